/**
 * docs/design.md names, for each invariant, the test that holds it (`file` — "test name"). This
 * keeps those citations honest: every cited test file exists and contains every cited name, so a
 * renamed or deleted test cannot leave the design doc pointing at nothing.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../../..');
const TEST_FILES = [...new Set(execFileSync('git', ['ls-files', '*.test.ts'], { cwd: ROOT, encoding: 'utf8' }).split('\n').filter(Boolean))];

/** A cited file: a path from the root, or a bare file name that exactly one test file has. */
function resolveTestFile(cited: string): string | undefined {
  if (existsSync(join(ROOT, cited))) return cited;
  const matches = TEST_FILES.filter((f) => f.endsWith(`/${cited}`));
  return matches.length === 1 ? matches[0] : undefined;
}

/** Every (file, [names]) the document cites: a backticked `*.test.ts` followed by quoted names. */
function citations(markdown: string): { file: string; names: string[] }[] {
  const flat = markdown.replace(/\s*\n\s*/g, ' ');
  const out: { file: string; names: string[] }[] = [];
  for (const m of flat.matchAll(/`([\w./-]+\.test\.ts)`((?:[^`]{0,20}?(?:—|describe|,)\s*"[^"]+")+)/g)) {
    out.push({ file: m[1]!, names: [...m[2]!.matchAll(/"([^"]+)"/g)].map((n) => n[1]!) });
  }
  return out;
}

describe('docs/design.md', () => {
  const cited = citations(readFileSync(join(ROOT, 'docs/design.md'), 'utf8'));

  it('cites tests', () => {
    expect(cited.length).toBeGreaterThan(20);
  });

  it('cites only test files that exist and test names they contain', () => {
    const problems: string[] = [];
    for (const { file, names } of cited) {
      const path = resolveTestFile(file);
      if (!path) {
        problems.push(`no test file ${file}`);
        continue;
      }
      const source = readFileSync(join(ROOT, path), 'utf8');
      for (const name of names) if (!source.includes(name) && !source.includes(name.replace(/'/g, "\\'"))) problems.push(`${path} has no test "${name}"`);
    }
    expect(problems).toEqual([]);
  });

  it('catches a citation of a test that does not exist', () => {
    const [bogus] = citations('held by (`deploy-files.test.ts` — "a test nobody wrote")');
    expect(bogus).toEqual({ file: 'deploy-files.test.ts', names: ['a test nobody wrote'] });
    const source = readFileSync(join(ROOT, resolveTestFile(bogus!.file)!), 'utf8');
    expect(source.includes(bogus!.names[0]!)).toBe(false);
  });
});
