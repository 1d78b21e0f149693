/**
 * One fault-suite run on a fault cluster: namespaces of its own, the clients' workload and the
 * nemesis side by side until the operation count or the time is reached, then healing, waiting
 * for quiescence (every link caught up, every namespace's digest equal), the final value of
 * every object in every region, and the checkers over the history. It prints its seed and its
 * nemesis schedule first, so any failure is replayed from the log.
 */
import { waitFor, WaitTimeoutError, checkHistory, lostByRestore, type Finals, type Restore, type HistoryOp, type ReadValue, type Violation } from '@meridian/testkit';
import type { FaultCluster } from './fault-cluster.ts';
import { describeOptions, nemesisSchedule, type FaultOptions, type NemesisStep } from './fault-options.ts';
import { healAll, runNemesis, type NemesisFinding } from './nemesis.ts';
import { call, Client, KEYS_PER_NAMESPACE, POLICIES, readValues, type WorkloadPolicy } from './workload.ts';

export interface FaultReport {
  readonly options: FaultOptions;
  readonly schedule: readonly NemesisStep[];
  readonly operations: number;
  readonly violations: readonly Violation[];
  readonly findings: readonly NemesisFinding[];
  readonly summary: string;
}

const POLICY_OF: Record<WorkloadPolicy, string> = { counter: 'counter', set: 'set', map: 'map', lww: 'lww', mv: 'mv' };

async function quiesce(cluster: FaultCluster, namespaces: readonly string[], timeoutMs: number): Promise<string | undefined> {
  try {
    await waitFor(
      async () => Promise.all(cluster.urls.map(async (u) => (await call(u, 'GET', '/v1/replication')).json['applied'] as Record<string, number>)),
      (applied) => cluster.ids.every((origin, j) => applied.every((a) => a[origin] === applied[j]![origin])),
      { timeoutMs, intervalMs: 500, what: 'every region applied every stream to its end' },
    );
    await waitFor(
      async () => Promise.all(namespaces.map(async (ns) => Promise.all(cluster.urls.map(async (u) => (await call(u, 'GET', `/v1/digest?ns=${ns}`)).json['digest'] as string)))),
      (ds) => ds.every((d) => new Set(d).size === 1),
      { timeoutMs: 30_000, intervalMs: 500, what: 'equal digests' },
    );
    return undefined;
  } catch (error) {
    if (!(error instanceof WaitTimeoutError)) throw error;
    const status = await Promise.all(cluster.urls.map(async (u) => JSON.stringify((await call(u, 'GET', '/v1/replication').catch(() => ({ json: {} }))).json)));
    return `${error.message}; replication: ${status.join(' | ')}`;
  }
}

/** The value each region holds for each object (read without a session: what it has now). */
async function finalValues(cluster: FaultCluster, namespaces: Readonly<Record<WorkloadPolicy, string>>): Promise<Finals> {
  const finals = new Map<string, Map<string, ReadValue>>();
  const put = (object: string, region: string, v: ReadValue): void => void finals.set(object, (finals.get(object) ?? new Map<string, ReadValue>()).set(region, v));
  for (const [i, url] of cluster.urls.entries()) {
    const region = cluster.ids[i]!;
    for (const policy of POLICIES) {
      for (let k = 0; k < KEYS_PER_NAMESPACE; k++) {
        const ns = namespaces[policy];
        const r = await call(url, 'GET', `/v1/ns/${ns}/keys/k${k}`);
        if (r.status !== 200 && r.status !== 404) throw new Error(`final read of ${ns}/k${k} in ${region}: ${r.status} ${JSON.stringify(r.json)}`);
        for (const [object, read] of readValues(policy, ns, `k${k}`, r)) put(object, region, read);
      }
    }
  }
  return finals;
}

/** HLCs of lww versions, where a region recorded them in a conflict: dot ("actor:counter") → HLC. */
async function conflictHlcs(cluster: FaultCluster, ns: string): Promise<Map<string, bigint>> {
  const out = new Map<string, bigint>();
  for (const url of cluster.urls) {
    const r = await call(url, 'GET', `/v1/conflicts?ns=${ns}&limit=500`);
    for (const c of (r.json['conflicts'] as { versions: { dot?: string; hlc?: string }[] }[] | undefined) ?? []) {
      for (const v of c.versions) if (v.dot && v.hlc) out.set(v.dot, BigInt(`0x${v.hlc}`));
    }
  }
  return out;
}

export function formatOp(op: HistoryOp): string {
  const what = op.kind === 'increment' ? `+${op.amount}` : op.kind === 'add' || op.kind === 'remove' ? `${op.kind} ${op.element}` : op.kind === 'write' ? `write ${op.value} seen=${JSON.stringify(op.seen)} dot=${op.dot ? `${op.dot.actor}:${op.dot.counter}` : '?'}` : `read ${JSON.stringify(op.read)}`;
  return `${op.session}@${op.region} [${op.start}..${op.end}] ${op.object} ${what}${'outcome' in op ? ` → ${op.outcome}` : ''}${op.position ? ` at ${op.position.actor}:${op.position.outboxId}` : ''}`;
}

export async function runFaults(cluster: FaultCluster, options: FaultOptions): Promise<FaultReport> {
  const schedule = nemesisSchedule(options);
  console.log(`[faults] ${describeOptions(options)}`);
  console.log(`[faults] nemesis schedule: ${schedule.map((s) => `+${(s.atMs / 1000).toFixed(1)}s ${s.op}(${s.region}${s.op === 'pause-link' ? `←${s.peer}` : ''}${s.op === 'skew-clock' ? ` ${s.offsetMs}ms` : ''}, ${s.lengthMs}ms)`).join('; ') || 'none'}`);
  const tag = `${options.seed.toString(36)}${Date.now().toString(36).slice(-4)}`;
  const namespaces = Object.fromEntries(POLICIES.map((p) => [p, `f${tag}${p}`])) as Record<WorkloadPolicy, string>;
  for (const p of POLICIES) {
    const r = await call(cluster.urls[0]!, 'PUT', `/v1/namespaces/${namespaces[p]}`, { policy: POLICY_OF[p] });
    if (r.status !== 201 && r.status !== 200) throw new Error(`namespace ${namespaces[p]}: ${r.status} ${JSON.stringify(r.json)}`);
  }
  await waitFor(() => Promise.all(cluster.urls.flatMap((u) => POLICIES.map(async (p) => (await call(u, 'GET', `/v1/namespaces/${namespaces[p]}`)).status))), (s) => s.every((x) => x === 200), { timeoutMs: 60_000, what: 'namespaces in every region' });

  const history: HistoryOp[] = [];
  const clients = Array.from({ length: options.clients }, (_, i) => new Client(`c${i}`, (options.seed + 7919 * (i + 1)) >>> 0, { ids: cluster.ids, urls: cluster.urls, namespaces, anyRegionWrites: options.anyRegionWrites }, history));
  const startedAt = Date.now();
  const deadline = startedAt + options.seconds * 1000;
  let issued = 0;
  let done = false;
  const restores: Restore[] = [];
  const nemesis = runNemesis(cluster, schedule, startedAt, () => done, restores);
  await Promise.all(
    clients.map(async (c) => {
      while (issued < options.ops && Date.now() < deadline) {
        issued++;
        await c.step();
      }
    }),
  );
  done = true;
  const findings = await nemesis;
  await healAll(cluster);
  const stuck = await quiesce(cluster, Object.values(namespaces), 120_000);
  const finals = await finalValues(cluster, namespaces);
  const hlcs = await conflictHlcs(cluster, namespaces.lww);
  const withHlcs = history.map((op) => (op.kind === 'write' && op.dot && hlcs.has(`${op.dot.actor}:${op.dot.counter}`) ? { ...op, hlc: hlcs.get(`${op.dot.actor}:${op.dot.counter}`) } : op));
  const undone = lostByRestore(withHlcs, restores);
  for (const op of undone) console.log(`[faults] lost by restore (acknowledged after the copy, never relayed): ${formatOp(op)}`);
  const violations: Violation[] = [...checkHistory(withHlcs, finals, options.checkers, restores), ...(stuck ? [{ checker: 'convergence' as const, object: '*', message: `no quiescence after healing: ${stuck}`, ops: [] }] : [])];
  const stats = clients.reduce((s, c) => ({ ok: s.ok + c.stats.ok, fail: s.fail + c.stats.fail, unknown: s.unknown + c.stats.unknown, reads: s.reads + c.stats.reads, refused: s.refused + c.stats.readsRefused }), { ok: 0, fail: 0, unknown: 0, reads: 0, refused: 0 });
  const summary = `seed ${options.seed}: ${issued} operations in ${((Date.now() - startedAt) / 1000).toFixed(0)} s (writes ok ${stats.ok}, refused ${stats.fail}, unknown ${stats.unknown}; reads ${stats.reads}, refused ${stats.refused}), ${schedule.length} faults scheduled, ${findings.length} nemesis findings, ${violations.length} violations`;
  console.log(`[faults] ${summary}`);
  for (const f of findings) console.log(`[faults] NEMESIS FINDING ${f.step.op}: ${f.message}`);
  for (const v of violations.slice(0, 30)) console.log(`[faults] VIOLATION ${v.checker} ${v.object}: ${v.message}\n${v.ops.slice(0, 12).map((o) => `    ${formatOp(o)}`).join('\n')}`);
  return { options, schedule, operations: issued, violations, findings, summary };
}
