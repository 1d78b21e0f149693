/**
 * No import cycles anywhere in the repository, type-only imports included (lint's
 * `import-x/no-cycle` skips `import type`, and it cannot follow `@meridian/*` names to their
 * sources): a cycle means two modules are one concept, or a type lives in the wrong module. Every
 * tracked TypeScript module is a node; every static `import`/`export … from` of a relative path
 * or of a workspace package (`@meridian/x`, its `src/index.ts`) is an edge.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../../..');

/** The modules a source file imports statically, as written (`import`, `import type`, `export … from`). */
function importSpecifiers(source: string): string[] {
  const out: string[] = [];
  for (const m of source.matchAll(/^\s*(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]/gm)) out.push(m[1]!);
  return out;
}

/** The strongly connected components with more than one module (or a module importing itself): Tarjan's algorithm. */
function cycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  let next = 0;
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

/** The repository's module graph: `.ts` files git tracks or would (not ignored, not generated, not declarations). */
function moduleGraph(): Map<string, string[]> {
  const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '*.ts'], { cwd: ROOT, encoding: 'utf8' })
    .split('\n')
    .filter((f) => f && !f.endsWith('.d.ts') && !f.includes('/generated/') && existsSync(join(ROOT, f)));
  const packages = new Map<string, string>();
  for (const pkg of execFileSync('git', ['ls-files', '*/package.json'], { cwd: ROOT, encoding: 'utf8' }).split('\n').filter(Boolean)) {
    const { name } = JSON.parse(readFileSync(join(ROOT, pkg), 'utf8')) as { name: string };
    const index = join(dirname(pkg), 'src/index.ts');
    if (name.startsWith('@meridian/') && existsSync(join(ROOT, index))) packages.set(name, index);
  }
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const edges: string[] = [];
    for (const spec of importSpecifiers(readFileSync(join(ROOT, file), 'utf8'))) {
      const target = spec.startsWith('.') ? normalize(join(dirname(file), spec)) : packages.get(spec);
      if (target !== undefined && files.includes(target)) edges.push(target);
    }
    graph.set(file, edges);
  }
  return graph;
}

describe('import cycles', () => {
  it('finds a cycle through type-only imports and through a package name', () => {
    const a = "import type { B } from './b.ts';\nexport const a = 1;";
    const b = "import {\n  c,\n} from '@meridian/c';\nexport type B = number;";
    expect(importSpecifiers(a)).toEqual(['./b.ts']);
    expect(importSpecifiers(b)).toEqual(['@meridian/c']);
    const graph = new Map([
      ['a', ['b']],
      ['b', ['c']],
      ['c', ['a']],
      ['d', ['a']],
      ['e', ['e']],
    ]);
    expect(cycles(graph)).toEqual([['a', 'b', 'c'], ['e']]);
    expect(cycles(new Map([['a', ['b']], ['b', []]]))).toEqual([]);
  });

  it('the repository has none', () => {
    const graph = moduleGraph();
    expect(graph.size).toBeGreaterThan(100);
    expect(cycles(graph)).toEqual([]);
  });
});
