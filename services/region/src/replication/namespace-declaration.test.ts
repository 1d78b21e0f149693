/**
 * Namespace declarations converge under any delivery order: four or five regions with skewed
 * clocks declare one namespace (with different policies, some at once), write to it once they
 * know it (each write carrying the policy its region keeps then), and deliver each other's
 * records in a random interleaving — per link in order (the relay puts a declaration ahead of its
 * region's later updates), across links in any order. Updates that arrive before any declaration
 * make stand-ins; a clock far ahead does not pull the others past the drift bound. When everything is delivered, every region keeps the earliest real declaration.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { NamespacePolicy } from '@meridian/store';
import { afterStep, declare, outranks, standIn, STAND_IN_HLC, type Declaration } from './namespace-declaration.ts';

const MAX_DRIFT_MS = 1000;
const POLICIES: readonly NamespacePolicy[] = ['lww', 'mv', 'counter', 'set', 'map'];

type Message = { readonly kind: 'declaration'; readonly d: Declaration } | { readonly kind: 'update'; readonly policy: NamespacePolicy; readonly by: string; readonly hlc: bigint };

type Action =
  | { readonly op: 'declare'; readonly region: number; readonly policy: number }
  | { readonly op: 'write'; readonly region: number }
  | { readonly op: 'deliver'; readonly from: number; readonly to: number }
  | { readonly op: 'tick'; readonly region: number; readonly ms: number };

const action = (regions: number): fc.Arbitrary<Action> =>
  fc.oneof(
    fc.record({ op: fc.constant('declare' as const), region: fc.nat(regions - 1), policy: fc.nat(POLICIES.length - 1) }),
    fc.record({ op: fc.constant('write' as const), region: fc.nat(regions - 1) }),
    { arbitrary: fc.record({ op: fc.constant('deliver' as const), from: fc.nat(regions - 1), to: fc.nat(regions - 1) }), weight: 3 },
    fc.record({ op: fc.constant('tick' as const), region: fc.nat(regions - 1), ms: fc.integer({ min: 0, max: 500 }) }),
  );

const scenario = fc.integer({ min: 4, max: 5 }).chain((regions) =>
  fc.record({
    regions: fc.constant(regions),
    // Clock skews beyond the drift bound: a region behind can write after seeing a declaration yet stamp an HLC before another one.
    skews: fc.array(fc.integer({ min: -5000, max: 5000 }), { minLength: regions, maxLength: regions }),
    actions: fc.array(action(regions), { maxLength: 60 }),
    drain: fc.array(fc.tuple(fc.nat(regions - 1), fc.nat(regions - 1)), { maxLength: 400 }),
  }),
);

/** A region's HLC, packed as in @meridian/causality: (physical ms << 16) + logical. */
class Clock {
  physical: number;
  last = 0n;
  constructor(physical: number) {
    this.physical = physical;
  }
  now(): bigint {
    const floor = BigInt(this.physical) << 16n;
    this.last = floor > this.last ? floor : this.last + 1n;
    return this.last;
  }
  /** Pulled by a remote only up to the drift bound (HybridLogicalClock.receive): a fast clock's HLC is not adopted. */
  receive(remote: bigint): void {
    const bound = (BigInt(this.physical + MAX_DRIFT_MS) << 16n) | 0xffffn;
    const pulled = remote < bound ? remote : bound;
    if (pulled > this.last) this.last = pulled;
  }
}

interface Region {
  readonly actor: string;
  readonly clock: Clock;
  kept: Declaration | undefined;
  /** Every real declaration this region has received or made (for the expected winner). */
  readonly seen: Declaration[];
}

function run(s: { regions: number; skews: number[]; actions: Action[]; drain: [number, number][] }): Region[] {
  const regions: Region[] = s.skews.map((skew, i) => ({ actor: `r${i}.1`, clock: new Clock(1_000_000 + skew), kept: undefined, seen: [] }));
  // links[from][to]: the records of `from` that `to` has not received yet, in `from`'s order.
  const links: Message[][][] = regions.map(() => regions.map(() => []));
  const publish = (from: number, m: Message): void => {
    for (let to = 0; to < regions.length; to++) if (to !== from) links[from]![to]!.push(m);
  };
  const receive = (to: number, m: Message): void => {
    const r = regions[to]!;
    r.clock.receive(m.kind === 'declaration' ? m.d.hlc : m.hlc);
    if (m.kind === 'update') {
      r.kept ??= standIn(m.policy, m.by);
      return;
    }
    r.seen.push(m.d);
    const step = declare(r.kept, m.d);
    expect(step.kind).not.toBe('refuse');
    r.kept = afterStep(r.kept, m.d, step);
  };
  const deliver = (from: number, to: number): void => {
    const m = links[from]![to]!.shift();
    if (m) receive(to, m);
  };
  for (const a of s.actions) {
    const r = regions[a.op === 'deliver' ? a.to : a.region]!;
    if (a.op === 'tick') r.clock.physical += a.ms;
    else if (a.op === 'declare') {
      // PUT /v1/namespaces: only a region that does not know the namespace declares it.
      if (r.kept) continue;
      const d: Declaration = { policy: POLICIES[a.policy]!, by: r.actor, hlc: r.clock.now() };
      r.kept = d;
      r.seen.push(d);
      publish(a.region, { kind: 'declaration', d });
    } else if (a.op === 'write') {
      if (!r.kept) continue;
      publish(a.region, { kind: 'update', policy: r.kept.policy, by: r.actor, hlc: r.clock.now() });
    } else if (a.from !== a.to) deliver(a.from, a.to);
  }
  // The rest of every link, in a random interleaving, then whatever is left.
  for (const [from, to] of s.drain) if (from !== to) deliver(from, to);
  for (let from = 0; from < regions.length; from++) for (let to = 0; to < regions.length; to++) while (links[from]![to]!.length > 0) deliver(from, to);
  return regions;
}

describe('namespace declarations', () => {
  it('every region keeps the earliest real declaration, whatever the delivery order, skew and stand-ins', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const regions = run(s);
        const declarations = regions.flatMap((r) => r.seen.filter((d) => d.by === r.actor));
        if (declarations.length === 0) {
          for (const r of regions) expect(r.kept).toBeUndefined();
          return;
        }
        const winner = declarations.reduce((best, d) => (outranks(d, best) ? d : best));
        for (const r of regions) expect(r.kept).toEqual(winner);
      }),
      { numRuns: 2000 },
    );
  });

  it('regression (shrunk): an update stamped before its declaration, by a clock the declaration could not pull past the drift bound', () => {
    const regions = run({ regions: 4, skews: [3081, 0, 0, 1001], actions: [{ op: 'declare', region: 3, policy: 0 }, { op: 'deliver', from: 3, to: 2 }, { op: 'write', region: 2 }], drain: [] });
    for (const r of regions) expect(r.kept?.by).toBe('r3.1');
  });

  it('a stand-in never outranks a declaration, even one stamped later by a fast clock', () => {
    const stand = standIn('mv', 'us.1');
    const late: Declaration = { policy: 'lww', by: 'eu.1', hlc: STAND_IN_HLC - 1n };
    expect(declare(stand, late)).toEqual({ kind: 'replace', conflict: true });
    expect(declare(stand, { ...late, policy: 'mv' })).toEqual({ kind: 'replace', conflict: false });
  });

  it('a declaration whose HLC is beyond a bigint is refused with the reason', () => {
    const step = declare(undefined, { policy: 'lww', by: 'eu.1', hlc: (1n << 64n) - 1n });
    expect(step.kind).toBe('refuse');
    expect(step.kind === 'refuse' && step.reason).toMatch(/beyond the range/);
  });

  it('regression: a stand-in from a region whose clock is behind does not keep its policy', () => {
    // us (slow clock) writes under mv, which it took from ap; ap's mv loses to eu's lww everywhere.
    const eu: Declaration = { policy: 'lww', by: 'eu.1', hlc: 5000n };
    const ap: Declaration = { policy: 'mv', by: 'ap.1', hlc: 9000n };
    let kept: Declaration | undefined = standIn('mv', 'us.1'); // us's update, stamped 4000: before eu's declaration
    for (const d of [eu, ap]) kept = afterStep(kept, d, declare(kept, d));
    expect(kept).toEqual(eu);
  });
});
