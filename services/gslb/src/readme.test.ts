/**
 * The README is part of the contract: its error table, settings table and health state machine
 * table are checked against the code here, so the docs cannot drift.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { ERRORS } from './errors.ts';
import { configReference } from './config.ts';
import { HealthEventType, HealthStatus, nextHealth, type HealthStatus as Status, type RegionHealth } from './region-health.ts';

const README = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

/** The rows of the markdown table whose header row starts with `header`. */
function table(header: string): string[][] {
  const lines = README.split('\n');
  const start = lines.findIndex((l) => l.startsWith(header));
  expect(start, `a table starting with "${header}"`).toBeGreaterThanOrEqual(0);
  const rows: string[][] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(line.split('|').slice(1, -1).map((c) => c.trim()));
  }
  return rows;
}

describe('README', () => {
  it('lists every error code with its status and retryability, and nothing else', () => {
    const rows = table('| code | status |');
    expect(rows.map(([code, status, retryable]) => [code?.replace(/`/g, ''), Number(status), retryable === 'yes'])).toEqual(
      Object.entries(ERRORS).map(([code, e]) => [code, e.status, e.retryable]),
    );
  });

  it('lists every setting with its default', () => {
    const rows = table('| variable |');
    expect(rows.map(([env, , def]) => [env?.replace(/`/g, ''), def?.replace(/`/g, '')])).toEqual(configReference().map((f) => [f.env, f.default]));
  });

  it('the state machine table names, for each cell, exactly the states the code can reach from it', () => {
    const rows = table('| state | probe-ok | probe-failed |');
    expect(rows.map(([s]) => s?.replace(/`/g, ''))).toEqual(Object.values(HealthStatus));
    // The counters a state can hold, and thresholds from 1 to 4: every cell's reachable targets.
    const holds = (status: Status, f: number, r: number): RegionHealth[] => {
      const at = (okStreak: number, failStreak: number): RegionHealth => ({ status, okStreak, failStreak, since: 0, lastProbeAt: 0 });
      const range = (from: number, to: number) => Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
      if (status === 'unknown') return [at(0, 0)];
      if (status === 'up') return range(1, 5).map((n) => at(n, 0));
      if (status === 'failing') return range(1, f - 1).map((n) => at(0, n));
      if (status === 'down') return range(1, 5).map((n) => at(0, n));
      return range(1, r - 1).map((n) => at(n, 0));
    };
    for (const [state, okCell, failedCell] of rows) {
      const status = state!.replace(/`/g, '') as Status;
      for (const [event, cell] of [
        [HealthEventType.probeOk, okCell],
        [HealthEventType.probeFailed, failedCell],
      ] as const) {
        const documented = new Set([...cell!.matchAll(/→ `([a-z]+)`/g)].map((m) => m[1]));
        const reachable = new Set<string>();
        for (let f = 1; f <= 4; f++) for (let r = 1; r <= 4; r++) for (const h of holds(status, f, r)) reachable.add(nextHealth(h, { type: event, at: 1 }, { failuresToDown: f, successesToUp: r }).status);
        expect([...documented].sort(), `${status} + ${event}`).toEqual([...reachable].sort());
      }
    }
  });
});
