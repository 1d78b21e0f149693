/**
 * Checkers for the fault suite: pure functions over the recorded history of a run's client
 * operations and the values every region holds at the end. Each one states a guarantee Meridian
 * makes to clients ("nothing acknowledged is lost or undone", "a session reads its own writes
 * and never goes back") and returns the violations with the operations that show them, so a
 * failing seed's report is its minimal history.
 *
 * Outcomes: `ok` was acknowledged; `fail` was refused with a client error (4xx: nothing was
 * written); `unknown` is everything else (5xx, timeout, connection lost): the operation may or
 * may not have taken effect, so it widens what a checker accepts and never narrows it.
 *
 * Causality between register writes comes from version vectors: a write's `dot` is the version
 * it created, its `seen` the vector of the context it was sent with; a write w2 supersedes w1
 * iff `w1.dot` is in `w2.seen`. Values written are unique per write, so a value read names its
 * write.
 */

export type Outcome = 'ok' | 'fail' | 'unknown';
/** actor → counter, as the region's context tokens carry it. */
export type Vector = Readonly<Record<string, number>>;
export interface Dot {
  readonly actor: string;
  readonly counter: number;
}

interface OpBase {
  /** The logical object: a counter, set or register key (a map's field is an object of its own). */
  readonly object: string;
  /** The client session (one client, one session, operations in sequence). */
  readonly session: string;
  readonly region: string;
  /** Wall-clock ms at invocation and at completion, from the test's one clock. */
  readonly start: number;
  readonly end: number;
  /** An acknowledged write's place in the writing region's stream: its actor and outbox id, from the answer's session token. */
  readonly position?: { readonly actor: string; readonly outboxId: number } | undefined;
}

export interface CounterIncrement extends OpBase {
  readonly kind: 'increment';
  readonly amount: number;
  readonly outcome: Outcome;
}
export interface SetAdd extends OpBase {
  readonly kind: 'add';
  readonly element: string;
  readonly outcome: Outcome;
}
export interface SetRemove extends OpBase {
  readonly kind: 'remove';
  readonly element: string;
  readonly outcome: Outcome;
}
export interface RegisterWrite extends OpBase {
  readonly kind: 'write';
  readonly policy: 'lww' | 'mv';
  /** Unique per write. */
  readonly value: string;
  /** The vector of the context the write was sent with (empty: a blind write). */
  readonly seen: Vector;
  /** The version the write created (known once acknowledged). */
  readonly dot?: Dot | undefined;
  /** Its HLC, where the run learned it (conflict records); lww ties between concurrent writes are checked only then. */
  readonly hlc?: bigint | undefined;
  readonly outcome: Outcome;
}
export type ReadValue =
  | { readonly type: 'counter'; readonly value: number }
  | { readonly type: 'set'; readonly elements: readonly string[] }
  | { readonly type: 'lww'; readonly value: string | null; readonly vector: Vector }
  | { readonly type: 'mv'; readonly values: readonly string[]; readonly vector: Vector };
/** A successful read (reads that failed are not recorded: they promised nothing). */
export interface Read extends OpBase {
  readonly kind: 'read';
  readonly read: ReadValue;
}
export type HistoryOp = CounterIncrement | SetAdd | SetRemove | RegisterWrite | Read;

/** What each region holds for each object at the end of the run (after healing and quiescence). */
export type Finals = ReadonlyMap<string, ReadonlyMap<string, ReadValue>>;

export interface Violation {
  readonly checker: 'counter' | 'set' | 'lww' | 'mv' | 'read-your-writes' | 'monotonic-reads' | 'convergence';
  readonly object: string;
  readonly message: string;
  /** The operations that show it. */
  readonly ops: readonly HistoryOp[];
}

const byObject = <T extends HistoryOp>(ops: readonly HistoryOp[], pick: (op: HistoryOp) => op is T): Map<string, T[]> => {
  const out = new Map<string, T[]>();
  for (const op of ops) if (pick(op)) out.set(op.object, [...(out.get(op.object) ?? []), op]);
  return out;
};
const isIncrement = (op: HistoryOp): op is CounterIncrement => op.kind === 'increment';
const isSetOp = (op: HistoryOp): op is SetAdd | SetRemove => op.kind === 'add' || op.kind === 'remove';
const isWrite = (op: HistoryOp): op is RegisterWrite => op.kind === 'write';
const isRead = (op: HistoryOp): op is Read => op.kind === 'read';

export const covers = (vector: Vector, dot: Dot): boolean => (vector[dot.actor] ?? 0) >= dot.counter;
const vectorAtLeast = (a: Vector, b: Vector): boolean => Object.entries(b).every(([actor, n]) => (a[actor] ?? 0) >= n);
const maybeApplied = (o: Outcome): boolean => o !== 'fail';

/** Counters are exact: every region ends between the acknowledged sum and that plus every unknown increment. */
export function checkCounters(history: readonly HistoryOp[], finals: Finals): Violation[] {
  const out: Violation[] = [];
  for (const [object, incs] of byObject(history, isIncrement)) {
    const low = incs.filter((i) => i.outcome === 'ok').reduce((s, i) => s + i.amount, 0);
    const high = low + incs.filter((i) => i.outcome === 'unknown').reduce((s, i) => s + i.amount, 0);
    for (const [region, read] of finals.get(object) ?? new Map<string, ReadValue>()) {
      if (read.type !== 'counter') continue;
      if (read.value < low || read.value > high) {
        out.push({ checker: 'counter', object, message: `${region} ends at ${read.value}, outside [${low}, ${high}] (acknowledged sum, plus unknown outcomes)`, ops: incs.filter((i) => i.outcome !== 'fail') });
      }
    }
  }
  return out;
}

/**
 * Sets: no acknowledged add is lost (an element added and never removed is in every region), no
 * acknowledged remove is undone (an element removed, and not added again after the remove began,
 * is in none), nothing appears that no one added.
 */
export function checkSets(history: readonly HistoryOp[], finals: Finals): Violation[] {
  const out: Violation[] = [];
  for (const [object, ops] of byObject(history, isSetOp)) {
    const elements = new Set(ops.map((o) => o.element));
    for (const [region, read] of finals.get(object) ?? new Map<string, ReadValue>()) {
      if (read.type !== 'set') continue;
      const present = new Set(read.elements);
      for (const element of elements) {
        const mine = ops.filter((o) => o.element === element);
        const adds = mine.filter((o) => o.kind === 'add');
        const removes = mine.filter((o) => o.kind === 'remove');
        const ackedAdd = adds.find((a) => a.outcome === 'ok');
        if (ackedAdd && !present.has(element) && !removes.some((r) => maybeApplied(r.outcome))) {
          out.push({ checker: 'set', object, message: `${region} lost the acknowledged add of ${element}`, ops: mine });
        }
        const ackedRemove = removes.find((r) => r.outcome === 'ok' && !adds.some((a) => maybeApplied(a.outcome) && a.start > r.start));
        if (ackedRemove && present.has(element)) {
          out.push({ checker: 'set', object, message: `${region} has ${element} again after its acknowledged remove`, ops: mine });
        }
      }
      for (const element of present) {
        const added = ops.some((o) => o.kind === 'add' && o.element === element && maybeApplied(o.outcome));
        if (!added) out.push({ checker: 'set', object, message: `${region} has ${element}, which no one added`, ops: ops.filter((o) => o.element === element) });
      }
    }
  }
  return out;
}

/** The acknowledged writes that no acknowledged write superseded. */
function maximal(writes: readonly RegisterWrite[]): RegisterWrite[] {
  const acked = writes.filter((w) => w.outcome === 'ok' && w.dot);
  return acked.filter((w) => !acked.some((other) => other !== w && covers(other.seen, w.dot!)));
}
const supersededBy = (w: RegisterWrite, writes: readonly RegisterWrite[], outcomes: readonly Outcome[]): RegisterWrite | undefined =>
  w.dot ? writes.find((other) => other !== w && outcomes.includes(other.outcome) && covers(other.seen, w.dot!)) : undefined;

/**
 * Last-writer-wins: the value every region ends with is an acknowledged (or unknown) write that
 * no acknowledged write superseded; among concurrent acknowledged writes whose HLCs are known,
 * the highest HLC.
 */
export function checkLww(history: readonly HistoryOp[], finals: Finals): Violation[] {
  const out: Violation[] = [];
  for (const [object, all] of byObject(history, isWrite)) {
    const writes = all.filter((w) => w.policy === 'lww');
    if (writes.length === 0) continue;
    const top = maximal(writes);
    for (const [region, read] of finals.get(object) ?? new Map<string, ReadValue>()) {
      if (read.type !== 'lww') continue;
      const winner = writes.find((w) => w.value === read.value && maybeApplied(w.outcome));
      if (!winner) {
        if (top.length > 0) out.push({ checker: 'lww', object, message: `${region} ends with ${String(read.value)}, not an acknowledged write's value`, ops: top });
        continue;
      }
      const over = supersededBy(winner, writes, ['ok']);
      if (over) {
        out.push({ checker: 'lww', object, message: `${region} ends with ${winner.value}, which ${over.value} superseded (its context covered it)`, ops: [winner, over] });
        continue;
      }
      if (winner.outcome === 'ok' && winner.hlc !== undefined) {
        const higher = top.find((w) => w !== winner && w.hlc !== undefined && w.hlc > winner.hlc! && !supersededBy(w, writes, ['ok', 'unknown']));
        if (higher) out.push({ checker: 'lww', object, message: `${region} ends with ${winner.value}, but the concurrent ${higher.value} has the higher HLC`, ops: [winner, higher] });
      }
    }
  }
  return out;
}

/** Multi-value registers: the siblings are exactly the maximal acknowledged writes (unknown outcomes may add or supersede). */
export function checkMv(history: readonly HistoryOp[], finals: Finals): Violation[] {
  const out: Violation[] = [];
  for (const [object, all] of byObject(history, isWrite)) {
    const writes = all.filter((w) => w.policy === 'mv');
    if (writes.length === 0) continue;
    const top = maximal(writes);
    for (const [region, read] of finals.get(object) ?? new Map<string, ReadValue>()) {
      if (read.type !== 'mv') continue;
      const siblings = new Set(read.values);
      for (const w of top) {
        if (!siblings.has(w.value) && !supersededBy(w, writes, ['unknown'])) out.push({ checker: 'mv', object, message: `${region} lost the sibling ${w.value}, which no write superseded`, ops: [w] });
      }
      for (const value of siblings) {
        const w = writes.find((x) => x.value === value && maybeApplied(x.outcome));
        if (!w) {
          out.push({ checker: 'mv', object, message: `${region} has the sibling ${value}, which no one wrote`, ops: [] });
          continue;
        }
        const over = supersededBy(w, writes, ['ok']);
        if (over) out.push({ checker: 'mv', object, message: `${region} keeps ${value} beside ${over.value}, which superseded it`, ops: [w, over] });
      }
    }
  }
  return out;
}

/**
 * Sessions: every successful read reflects the session's own earlier acknowledged writes to the
 * object (read-your-writes) and never goes back from an earlier read of the session (monotonic
 * reads). A session's operations are sequential, in the order of `start`.
 */
export function checkSessions(history: readonly HistoryOp[]): Violation[] {
  const out: Violation[] = [];
  const sessions = new Map<string, HistoryOp[]>();
  for (const op of history) sessions.set(op.session, [...(sessions.get(op.session) ?? []), op]);
  const removesOf = new Map<string, HistoryOp[]>();
  for (const op of history) if (op.kind === 'remove' && maybeApplied(op.outcome)) removesOf.set(`${op.object}\0${op.element}`, [...(removesOf.get(`${op.object}\0${op.element}`) ?? []), op]);
  const removedBefore = (object: string, element: string, t: number): boolean => (removesOf.get(`${object}\0${element}`) ?? []).some((r) => r.start < t);

  for (const [, ops] of sessions) {
    const ordered = [...ops].sort((a, b) => a.start - b.start);
    const last = new Map<string, Read>();
    for (const [i, op] of ordered.entries()) {
      if (!isRead(op)) continue;
      const before = ordered.slice(0, i).filter((o) => o.object === op.object && o.end <= op.start);
      const r = op.read;
      const fail = (checker: Violation['checker'], message: string, shown: readonly HistoryOp[]): void => void out.push({ checker, object: op.object, message: `session ${op.session}: ${message}`, ops: [...shown, op] });
      // Read-your-writes.
      if (r.type === 'counter') {
        const own = before.filter((o): o is CounterIncrement => isIncrement(o) && o.outcome === 'ok');
        const sum = own.reduce((s, o) => s + o.amount, 0);
        if (r.value < sum) fail('read-your-writes', `read ${r.value} in ${op.region} after its own increments of ${sum}`, own);
      } else if (r.type === 'set') {
        const present = new Set(r.elements);
        for (const o of before) {
          if (o.kind === 'add' && o.outcome === 'ok' && !present.has(o.element) && !removedBefore(o.object, o.element, op.end)) fail('read-your-writes', `${o.element}, added, is missing from a read in ${op.region}`, [o]);
          if (o.kind === 'remove' && o.outcome === 'ok' && present.has(o.element)) {
            const readded = history.some((a) => a.kind === 'add' && a.object === o.object && a.element === o.element && maybeApplied(a.outcome) && a.start > o.start);
            if (!readded) fail('read-your-writes', `${o.element}, removed, is back in a read in ${op.region}`, [o]);
          }
        }
      } else {
        for (const o of before) {
          if (isWrite(o) && o.outcome === 'ok' && o.dot && !covers(r.vector, o.dot)) fail('read-your-writes', `a read in ${op.region} does not cover its own write ${o.value}`, [o]);
        }
      }
      // Monotonic reads.
      const prev = last.get(op.object);
      if (prev) {
        const p = prev.read;
        if (p.type === 'counter' && r.type === 'counter' && r.value < p.value) fail('monotonic-reads', `read ${r.value} in ${op.region} after ${p.value} in ${prev.region}`, [prev]);
        if (p.type === 'set' && r.type === 'set') {
          const now = new Set(r.elements);
          const gone = p.elements.filter((e) => !now.has(e) && !removedBefore(op.object, e, op.end));
          if (gone.length > 0) fail('monotonic-reads', `${gone.join(', ')} seen in ${prev.region}, gone in a later read in ${op.region}`, [prev]);
        }
        if ((p.type === 'lww' || p.type === 'mv') && (r.type === 'lww' || r.type === 'mv') && !vectorAtLeast(r.vector, p.vector)) {
          fail('monotonic-reads', `a read in ${op.region} is older than one in ${prev.region} (${JSON.stringify(r.vector)} < ${JSON.stringify(p.vector)})`, [prev]);
        }
      }
      last.set(op.object, op);
    }
  }
  return out;
}

const canonical = (r: ReadValue): string => {
  switch (r.type) {
    case 'counter':
      return `counter:${r.value}`;
    case 'set':
      return `set:${JSON.stringify([...r.elements].sort())}`;
    case 'lww':
      return `lww:${JSON.stringify(r.value)}`;
    case 'mv':
      return `mv:${JSON.stringify([...r.values].sort())}`;
  }
};

/** Every region ends with the same value for every object. */
export function checkConvergence(finals: Finals): Violation[] {
  const out: Violation[] = [];
  for (const [object, byRegion] of finals) {
    const values = new Map([...byRegion].map(([region, read]) => [region, canonical(read)]));
    if (new Set(values.values()).size > 1) out.push({ checker: 'convergence', object, message: `regions differ: ${[...values].map(([r, v]) => `${r}=${v}`).join(' ')}`, ops: [] });
  }
  return out;
}

/**
 * A region put back from a copy of its database taken while it was stopped: an asynchronous
 * backup (docs/deploy.md, "Restoring a region"). What its own topic held of its stream when it
 * was stopped to be restored is what peers have applied or will apply from Kafka.
 */
export interface Restore {
  readonly region: string;
  /** When the copy was taken (the test's clock, ms): the region was stopped from before it until it restarted. */
  readonly copiedAt: number;
  /** When the region was stopped to be restored. */
  readonly stoppedAt: number;
  /** Per actor of the region, the highest outbox id its topic held at `stoppedAt`. */
  readonly published: Readonly<Record<string, number>>;
}

/**
 * The writes a restore genuinely undid, and only those: acknowledged by the restored region after
 * its copy was taken and before it was stopped, at a position of its stream beyond everything its
 * topic held then — in neither the copy nor Kafka, so in no peer, never to be published. A write
 * a peer applied, or can still apply from Kafka, is never among them; a write without a known
 * position never is either (the checkers hold it to its acknowledgement).
 */
export function lostByRestore(history: readonly HistoryOp[], restores: readonly Restore[]): Set<HistoryOp> {
  const lost = new Set<HistoryOp>();
  for (const op of history) {
    if (op.kind === 'read' || op.outcome !== 'ok' || !op.position) continue;
    const { actor, outboxId } = op.position;
    const undone = restores.some((r) => op.region === r.region && actor.startsWith(`${r.region}.`) && op.end > r.copiedAt && op.end <= r.stoppedAt && outboxId > (r.published[actor] ?? 0));
    if (undone) lost.add(op);
  }
  return lost;
}

export type CheckerName = 'counter' | 'set' | 'lww' | 'mv' | 'sessions' | 'convergence';
export const CHECKERS: readonly CheckerName[] = ['counter', 'set', 'lww', 'mv', 'sessions', 'convergence'];

/**
 * Every checker named in `enabled` over one run. A write a restore undid (`lostByRestore`) counts
 * as one whose outcome is unknown: it may be missing, and nothing may depend on it.
 */
export function checkHistory(all: readonly HistoryOp[], finals: Finals, enabled: ReadonlySet<CheckerName> = new Set(CHECKERS), restores: readonly Restore[] = []): Violation[] {
  const lost = lostByRestore(all, restores);
  const history = lost.size === 0 ? all : all.map((op) => (lost.has(op) && op.kind !== 'read' ? { ...op, outcome: 'unknown' as const } : op));
  return [
    ...(enabled.has('counter') ? checkCounters(history, finals) : []),
    ...(enabled.has('set') ? checkSets(history, finals) : []),
    ...(enabled.has('lww') ? checkLww(history, finals) : []),
    ...(enabled.has('mv') ? checkMv(history, finals) : []),
    ...(enabled.has('sessions') ? checkSessions(history) : []),
    ...(enabled.has('convergence') ? checkConvergence(finals) : []),
  ];
}
