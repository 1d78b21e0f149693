/**
 * Where a setting comes from: the variable itself, or the file named by `<NAME>_FILE` — how
 * Docker and Kubernetes hand a process its secrets (a mounted file, not an environment that
 * `ps e`, crash dumps and child processes can show). The file's trailing newline is dropped.
 * A problem names the variable and the path, never the content.
 */

export type SettingSource = { readonly value: string | undefined } | { readonly problem: string };

export function readSetting(env: Readonly<Record<string, string | undefined>>, name: string, readFile: (path: string) => string): SettingSource {
  const raw = env[name];
  if (raw !== undefined && raw !== '') return { value: raw };
  const file = env[`${name}_FILE`];
  if (file === undefined || file === '') return { value: undefined };
  try {
    return { value: readFile(file).replace(/\r?\n$/, '') };
  } catch (error) {
    return { problem: `${name}_FILE: expected a readable file (got ${JSON.stringify(file)}: ${(error as NodeJS.ErrnoException).code ?? 'unreadable'})` };
  }
}
