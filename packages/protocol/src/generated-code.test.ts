/**
 * The schema and the code generated from it: the committed src/generated/ is exactly what
 * `npm run generate` produces from proto/, the .proto passes buf's lint, and it breaks nothing on
 * the wire against the frozen v1 schema (fixtures/v1/schema-image.json): fields are only added.
 * These run the buf CLI from the @bufbuild/buf devDependency (no network).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const PACKAGE = join(import.meta.dirname, '..');
const require = createRequire(import.meta.url);
/** buf, and protoc-gen-es on PATH for it, from wherever npm installed them. */
const BIN = [
  dirname(require.resolve('@bufbuild/buf/package.json')),
  dirname(require.resolve('@bufbuild/protoc-gen-es/package.json')),
].map((pkg) => join(pkg, 'bin'));
const env = { ...process.env, PATH: [...BIN, process.env.PATH ?? ''].join(delimiter) };

function buf(...args: string[]): string {
  try {
    return execFileSync(join(BIN[0]!, 'buf'), args, { cwd: PACKAGE, env, encoding: 'utf8', stdio: 'pipe' });
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`buf ${args.join(' ')} failed:\n${stdout ?? ''}${stderr ?? ''}`, { cause: error });
  }
}

function filesUnder(root: string): Map<string, string> {
  const files = new Map<string, string>();
  for (const entry of readdirSync(root, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) {
      const path = join(entry.parentPath, entry.name);
      files.set(relative(root, path), readFileSync(path, 'utf8'));
    }
  }
  return files;
}

const scratch = mkdtempSync(join(tmpdir(), 'meridian-protocol-generate-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('generated code and schema', () => {
  it('src/generated is up to date with proto/ (run `npm run generate -w @meridian/protocol` if not)', () => {
    buf('generate', '--output', scratch);
    const fresh = filesUnder(join(scratch, 'src', 'generated'));
    const committed = filesUnder(join(PACKAGE, 'src', 'generated'));
    expect([...fresh.keys()].sort()).toEqual([...committed.keys()].sort());
    expect(fresh.size).toBeGreaterThan(0);
    for (const [path, text] of fresh) expect(committed.get(path), path).toBe(text);
  }, 60_000);

  it('the .proto passes buf lint', () => {
    buf('lint');
  }, 60_000);

  it('the .proto is wire-compatible with the frozen v1 schema', () => {
    buf('breaking', '--against', join('fixtures', 'v1', 'schema-image.json'));
  }, 60_000);
});
