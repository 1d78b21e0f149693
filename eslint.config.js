// Type-aware lint for the whole monorepo. The rules that matter most here: no floating promises
// (a dropped promise in a replicator silently stops replication), consistent type imports,
// no import cycles, and no relative or deep imports across packages.
import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '.cache/**', '.meridian/**', '**/generated/**', 'eslint.config.js'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['vitest.config.ts'] }, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { 'import-x': importX },
    settings: { 'import-x/resolver': { node: true } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'import-x/no-cycle': 'error',
      'no-restricted-syntax': [
        'error',
        { selector: 'ExportAllDeclaration', message: 'Name what a module exports; no `export *`.' },
        { selector: 'TSEnumDeclaration', message: 'Use a const object and a union type, not an enum.' },
      ],
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['**/packages/*/**', '**/services/*/**', '**/infra/local/**'], message: 'Import another package by its name (@meridian/…), not by a relative path.' },
            { group: ['@meridian/*/*'], message: 'No deep imports: use what the package exports from its index.' },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.test.ts', '**/*.fixture.ts', 'test/**', 'scripts/**', '**/bench/**'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
);
