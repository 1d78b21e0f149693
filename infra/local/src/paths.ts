/**
 * Where the launchers keep their files. The jar cache lives under the repository's git-ignored
 * `.cache/` (override with MERIDIAN_CACHE_DIR), so a second run reuses it.
 */
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';
import { existsSync } from 'node:fs';

const here = dirname(fileURLToPath(import.meta.url));

/** The directory holding infra/local's maven poms. */
export const mavenDir = resolve(here, '..', 'maven');

function repositoryRoot(): string {
  let dir = here;
  while (dirname(dir) !== dir) {
    if (existsSync(join(dir, 'turbo.json'))) return dir;
    dir = dirname(dir);
  }
  return resolve(here, '..', '..', '..');
}

export function cacheDir(): string {
  return process.env['MERIDIAN_CACHE_DIR'] ?? join(repositoryRoot(), '.cache');
}
