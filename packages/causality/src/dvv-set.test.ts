import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { compareDots, type ActorId, type Dot } from './actor.ts';
import { hex } from './arbitraries.ts';
import { CausalityError } from './causality-error.ts';
import { DvvSet } from './dvv-set.ts';
import { CausalContext } from './causal-context.ts';
import { VersionVector } from './version-vector.ts';

// Values are write ids: a write is identified by its value, so siblings can be checked against a model.
type Replica = DvvSet<number>;

const encodeValue = (v: number): Uint8Array => new TextEncoder().encode(String(v));
const decodeValue = (b: Uint8Array): number => Number(new TextDecoder().decode(b));
/** The canonical form of a set: its bytes (equal sets, equal bytes). */
const canon = (s: Replica): string => hex(s.encode(encodeValue));

const REGIONS: readonly ActorId[] = ['eu.1', 'us.1', 'ap.2'];

interface Write {
  readonly id: number;
  readonly dot: Dot;
  /** The context the client sent; undefined for a blind write. */
  readonly context: VersionVector | undefined;
}

interface Publication {
  readonly to: number;
  readonly set: Replica;
  readonly known: ReadonlySet<number>;
}

/**
 * A key replicated across regions the way Meridian does it: each region applies its clients'
 * writes and publishes its whole version set after each one; peers apply publications in any
 * order, any number of times. Beside it, the model: which writes each region knows.
 */
class World {
  readonly sets: Replica[];
  readonly known: Set<number>[];
  readonly writes: Write[] = [];
  readonly pending: Publication[] = [];
  /** Every state any replica has been in, for the algebraic laws. */
  readonly snapshots: Replica[] = [];

  constructor(regions: number) {
    this.sets = Array.from({ length: regions }, () => DvvSet.empty<number>());
    this.known = Array.from({ length: regions }, () => new Set<number>());
  }

  read(region: number): VersionVector {
    return this.sets[region]!.context();
  }

  write(region: number, context: VersionVector | undefined): Write {
    const id = this.writes.length;
    const { set, dot } = this.sets[region]!.update(context, REGIONS[region]!, id);
    const write = { id, dot, context };
    this.writes.push(write);
    this.sets[region] = set;
    this.known[region]!.add(id);
    this.snapshots.push(set);
    for (let to = 0; to < this.sets.length; to++) {
      if (to !== region) this.pending.push({ to, set, known: new Set(this.known[region]) });
    }
    return write;
  }

  deliver(index: number, keep: boolean): void {
    const publication = this.pending[index % this.pending.length];
    if (publication === undefined) return;
    if (!keep) this.pending.splice(index % this.pending.length, 1);
    this.sets[publication.to] = this.sets[publication.to]!.sync(publication.set);
    for (const id of publication.known) this.known[publication.to]!.add(id);
    this.snapshots.push(this.sets[publication.to]!);
  }

  drain(order: readonly number[]): void {
    let i = 0;
    while (this.pending.length > 0) this.deliver(order[i++ % Math.max(order.length, 1)] ?? 0, false);
  }

  /** The model: the writes a region knows that no write it knows has superseded (by its context). */
  expectedLive(region: number): number[] {
    const known = [...this.known[region]!];
    return known.filter((id) => !known.some((other) => this.writes[other]!.context?.contains(this.writes[id]!.dot))).sort((a, b) => a - b);
  }

  /** Asserts the model and the no-loss rule at every region. */
  check(): void {
    for (let region = 0; region < this.sets.length; region++) {
      const set = this.sets[region]!;
      const live = set.values().sort((a, b) => a - b);
      expect(live).toEqual(this.expectedLive(region));
      for (const v of set.versions()) expect(v.dot).toEqual(this.writes[v.value]!.dot);
      for (const id of this.known[region]!) {
        const present = live.includes(id);
        const supersededBy = this.writes.filter((w) => this.known[region]!.has(w.id) && w.context?.contains(this.writes[id]!.dot));
        // No acknowledged write is lost: it is live, or a write whose client had read it replaced it.
        expect(present || supersededBy.length > 0).toBe(true);
        expect(set.causalContext().contains(this.writes[id]!.dot)).toBe(true);
      }
    }
  }
}

type Step =
  | { readonly kind: 'read'; readonly client: number; readonly region: number }
  | { readonly kind: 'write'; readonly client: number; readonly region: number; readonly blind: boolean }
  | { readonly kind: 'deliver'; readonly pick: number; readonly duplicate: boolean };

function stepsArb(regions: number, clients: number, maxLength: number): fc.Arbitrary<Step[]> {
  const region = fc.nat({ max: regions - 1 });
  const client = fc.nat({ max: clients - 1 });
  return fc.array(
    fc.oneof(
      { weight: 3, arbitrary: fc.record({ kind: fc.constant('read' as const), client, region }) },
      { weight: 3, arbitrary: fc.record({ kind: fc.constant('write' as const), client, region, blind: fc.nat({ max: 3 }).map((n) => n === 0) }) },
      { weight: 3, arbitrary: fc.record({ kind: fc.constant('deliver' as const), pick: fc.nat(), duplicate: fc.boolean() }) },
    ),
    { maxLength },
  );
}

/** Runs `steps`: clients remember the context of their last read and send it with their next write. */
function run(world: World, clients: number, steps: readonly Step[], afterEach?: () => void): void {
  const contexts: (VersionVector | undefined)[] = Array.from({ length: clients }, () => undefined);
  for (const step of steps) {
    if (step.kind === 'read') contexts[step.client] = world.read(step.region);
    else if (step.kind === 'write') world.write(step.region, step.blind ? undefined : contexts[step.client]);
    else world.deliver(step.pick, step.duplicate);
    afterEach?.();
  }
}

/** Three regions and three clients after `steps`. */
function simulate(steps: readonly Step[]): World {
  const world = new World(3);
  run(world, 3, steps);
  return world;
}

const historyArb = fc.record({ steps: stepsArb(3, 3, 40), drain: fc.array(fc.nat(), { maxLength: 10 }) });

describe('DvvSet: sync is a join', () => {
  const statesArb = fc.tuple(historyArb, fc.nat(), fc.nat(), fc.nat());

  it('is commutative, associative and idempotent, and only grows the context', () => {
    fc.assert(
      fc.property(statesArb, ([{ steps }, i, j, k]) => {
        const world = simulate(steps);
        const pick = (n: number): Replica => world.snapshots[n % Math.max(world.snapshots.length, 1)] ?? DvvSet.empty();
        const [a, b, c] = [pick(i), pick(j), pick(k)];
        expect(canon(a.sync(b))).toBe(canon(b.sync(a)));
        expect(canon(a.sync(b).sync(c))).toBe(canon(a.sync(b.sync(c))));
        expect(canon(a.sync(a))).toBe(canon(a));
        expect(canon(a.sync(b).sync(b))).toBe(canon(a.sync(b)));
        expect(a.sync(b).causalContext().covers(a.causalContext())).toBe(true);
        expect(a.sync(b).causalContext().covers(b.causalContext())).toBe(true);
        expect(canon(a.sync(DvvSet.empty()))).toBe(canon(a));
      }),
      { numRuns: 300 },
    );
  });

  it('hands decodeValue copies of the value bytes, or with valueViews views of them inside the input', () => {
    const bytes = DvvSet.empty<number>().update(undefined, 'eu.1', 42).set.encode(encodeValue);
    const given: Uint8Array[] = [];
    const keep = (b: Uint8Array): number => (given.push(b), decodeValue(b));
    expect(DvvSet.decode(bytes, keep).values()).toEqual([42]);
    expect(DvvSet.decode(bytes, keep, { valueViews: true }).values()).toEqual([42]);
    expect(given.map((b) => b.buffer === bytes.buffer)).toEqual([false, true]);
  });

  it('is one of the two sets itself when that set already is the join', () => {
    fc.assert(
      fc.property(statesArb, ([{ steps }, i, j]) => {
        const world = simulate(steps);
        const pick = (n: number): Replica => world.snapshots[n % Math.max(world.snapshots.length, 1)] ?? DvvSet.empty();
        const [a, b] = [pick(i), pick(j)];
        expect(DvvSet.empty<number>().sync(b)).toBe(b);
        expect(b.sync(DvvSet.empty())).toBe(b);
        // A write on top of a set supersedes it, from either side.
        const next = a.update(a.context(), 'eu.1', 99_999).set;
        expect(a.sync(next)).toBe(next);
        expect(next.sync(a)).toBe(next);
      }),
      { numRuns: 300 },
    );
  });
});

describe('DvvSet: read-modify-write', () => {
  it('100 read-modify-write cycles from one client leave one version', () => {
    fc.assert(
      fc.property(fc.nat({ max: 4 }), (blindFirst) => {
        const world = new World(1);
        for (let i = 0; i < blindFirst; i++) world.write(0, undefined);
        for (let cycle = 0; cycle < 100; cycle++) {
          const write = world.write(0, world.read(0));
          expect(world.sets[0]!.values()).toEqual([write.id]);
        }
        world.check();
      }),
      { numRuns: 20 },
    );
  });

  it('a client moving between regions with read-your-writes (its reads wait for its writes) leaves one version', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat({ max: 2 }), fc.nat({ max: 2 }), fc.nat()), { minLength: 1, maxLength: 60 }), fc.array(fc.nat(), { maxLength: 10 }), (cycles, drain) => {
        const world = new World(3);
        let last: Write | undefined;
        for (const [readAt, writeAt, pick] of cycles) {
          world.deliver(pick, true); // unrelated replication noise
          // The "wait" consistency mode: the read region applies what the session has seen.
          for (let i = world.pending.length - 1; i >= 0; i--) if (world.pending[i]!.to === readAt && last && world.pending[i]!.known.has(last.id)) world.deliver(i, false);
          last = world.write(writeAt, world.read(readAt));
        }
        world.drain(drain);
        world.check();
        for (const set of world.sets) expect(set.values()).toEqual([last!.id]);
      }),
    );
  });

  it('k concurrent clients at one region: at most k siblings, and no acknowledged write is lost', () => {
    let mostSiblings = 0;
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }).chain((k) => fc.tuple(fc.constant(k), fc.array(fc.nat({ max: k - 1 }), { maxLength: 120 }))), ([k, schedule]) => {
        const world = new World(1);
        const reads: (VersionVector | undefined)[] = Array.from({ length: k }, () => undefined);
        for (const client of schedule) {
          const context = reads[client];
          if (context === undefined) {
            reads[client] = world.read(0);
          } else {
            world.write(0, context);
            reads[client] = undefined;
          }
          expect(world.sets[0]!.size()).toBeLessThanOrEqual(k);
          mostSiblings = Math.max(mostSiblings, world.sets[0]!.size());
          world.check();
        }
      }),
      { numRuns: 200 },
    );
    expect(mostSiblings).toBeGreaterThanOrEqual(3); // concurrency was really exercised
  });

  it('a blind write adds a sibling and supersedes nothing', () => {
    fc.assert(
      fc.property(historyArb, fc.nat({ max: 2 }), ({ steps }, region) => {
        const world = simulate(steps);
        const before = world.sets[region]!;
        const { set, dot } = before.update(undefined, REGIONS[region]!, -1);
        expect(set.size()).toBe(before.size() + 1);
        expect(set.values()).toEqual(expect.arrayContaining([...before.values(), -1]));
        expect(before.causalContext().contains(dot)).toBe(false);
        expect(set.causalContext().covers(before.causalContext())).toBe(true);
        expect(dot.counter).toBe(before.causalContext().max(REGIONS[region]!) + 1);
      }),
    );
  });

  it('a write whose client read elsewhere supersedes that version when it arrives late', () => {
    const eu = DvvSet.empty<string>().update(undefined, 'eu.1', 'from eu').set;
    const us = DvvSet.empty<string>().sync(eu); // the client reads at us, which has eu's version...
    const ap = DvvSet.empty<string>().update(us.context(), 'ap.1', 'from ap').set; // ...and writes at ap, which has not
    expect(ap.values()).toEqual(['from ap']);
    expect(ap.causalContext().contains({ actor: 'eu.1', counter: 1 })).toBe(true);
    // eu's version reaches ap afterwards: the write's context already covers it.
    expect(ap.sync(eu).values()).toEqual(['from ap']);
    expect(eu.sync(ap).values()).toEqual(['from ap']);
    // A later write at eu that ap's client never read stays a sibling.
    const eu2 = eu.update(undefined, 'eu.1', 'eu again').set;
    expect(ap.sync(eu2).values().sort()).toEqual(['eu again', 'from ap']);
  });
});

describe('DvvSet: replicas converge', () => {
  it('regions exchanging states in random order, with duplicates, converge to identical sets that match the model', () => {
    let mostSiblings = 0;
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 3 }), stepsArb(3, 4, 60), fc.array(fc.nat(), { maxLength: 20 }), (regions, steps, drain) => {
        const world = new World(regions);
        const clamped = steps.map((s) => (s.kind === 'deliver' ? s : { ...s, region: s.region % regions }));
        run(world, 4, clamped, () => world.check());
        world.drain(drain);
        world.check();
        const expected = canon(world.sets[0]!);
        for (const set of world.sets) expect(canon(set)).toBe(expected);
        // Sibling values are exactly the writes not covered by any write's context.
        const everyWrite = world.writes.filter((w) => !world.writes.some((other) => other.context?.contains(w.dot))).map((w) => w.id);
        expect(world.sets[0]!.values().sort((a, b) => a - b)).toEqual(everyWrite);
        mostSiblings = Math.max(mostSiblings, everyWrite.length);
      }),
      { numRuns: 200 },
    );
    expect(mostSiblings).toBeGreaterThanOrEqual(3);
  });
});

describe('DvvSet: forms', () => {
  it('round-trips through encode/decode and JSON', () => {
    fc.assert(
      fc.property(historyArb, ({ steps }) => {
        for (const set of simulate(steps).sets) {
          const bytes = set.encode(encodeValue);
          const decoded = DvvSet.decode(bytes, decodeValue);
          expect(canon(decoded)).toBe(hex(bytes));
          expect(decoded.versions()).toEqual(set.versions());
          expect(decoded.causalContext().equals(set.causalContext())).toBe(true);
          const json = JSON.parse(JSON.stringify(set.toJSON((v) => v))) as unknown;
          expect(canon(DvvSet.fromJSON(json, (j) => j as number))).toBe(canon(set));
        }
      }),
    );
  });

  it('versions are sorted by dot and the read context is the compact part of the exact context', () => {
    fc.assert(
      fc.property(historyArb, ({ steps }) => {
        for (const set of simulate(steps).sets) {
          const dots = set.versions().map((v) => v.dot);
          dots.slice(1).forEach((d, i) => expect(compareDots(dots[i]!, d)).toBeLessThan(0));
          expect(set.context().equals(set.causalContext().vector)).toBe(true);
          expect(set.size()).toBe(set.values().length);
        }
      }),
    );
  });

  it.each([
    ['null', null],
    ['missing versions', { context: { vv: {}, cloud: [] } }],
    ['a version outside the context', { context: { vv: { 'eu.1': 1 }, cloud: [] }, versions: [['eu.1', 2, 'x']] }],
    ['a repeated dot', { context: { vv: { 'eu.1': 2 }, cloud: [] }, versions: [['eu.1', 2, 'x'], ['eu.1', 2, 'y']] }],
    ['a version of the wrong shape', { context: { vv: { 'eu.1': 2 }, cloud: [] }, versions: [['eu.1', 2]] }],
    ['a bad actor', { context: { vv: { 'eu.1': 2 }, cloud: [] }, versions: [['eu', 2, 'x']] }],
  ])('fromJSON rejects %s', (_what, json) => {
    expect(() => DvvSet.fromJSON(json, (j) => j)).toThrow(CausalityError);
  });
});

describe('DvvSet: a context with a gap', () => {
  it('hands clients only the gap-free part, so a write never supersedes a version beyond the gap', () => {
    // eu.1:3 arrived but eu.1:2 has not yet: the exact context is {eu.1:1} + [eu.1:3].
    const set = DvvSet.fromJSON({ context: { vv: { 'eu.1': 1 }, cloud: [['eu.1', 3]] }, versions: [['eu.1', 3, 'three']] }, (j) => j as string);
    expect(set.context().toJSON()).toEqual({ 'eu.1': 1 });
    const { set: after, dot } = set.update(set.context(), 'eu.1', 'four');
    expect(dot).toEqual({ actor: 'eu.1', counter: 4 });
    // 'three' was read but the read context cannot say so without also claiming eu.1:2: it stays a sibling.
    expect(after.values()).toEqual(['three', 'four']);
    // eu.1:2 arrives late: it was never read by anyone here, so it is kept.
    const late = DvvSet.fromJSON({ context: { vv: { 'eu.1': 2 }, cloud: [] }, versions: [['eu.1', 2, 'two']] }, (j) => j as string);
    expect(after.sync(late).values()).toEqual(['two', 'three', 'four']);
  });
});

describe('DvvSet.retain (how LWW resolves concurrent versions)', () => {
  it('drops versions but keeps their dots: a replica still holding a dropped version loses it on sync', () => {
    const a = DvvSet.empty<string>().update(undefined, 'eu.1', 'x').set;
    const b = DvvSet.empty<string>().update(undefined, 'us.1', 'y').set;
    const both = a.sync(b);
    expect(both.values().sort()).toEqual(['x', 'y']);
    const winner = both.retain((v) => v.value === 'y');
    expect(winner.values()).toEqual(['y']);
    expect(winner.causalContext().equals(both.causalContext())).toBe(true);
    // `a` still holds 'x'; syncing with the resolved state must not resurrect it, in either order.
    expect(a.sync(winner).values()).toEqual(['y']);
    expect(winner.sync(a).values()).toEqual(['y']);
  });
});

describe('DvvSet.seen (a key whose versions were all superseded)', () => {
  it('holds no version, has seen the context, and mints the dot after it; a version it has seen never comes back on sync', () => {
    const start = DvvSet.seen<number>(CausalContext.fromVector(VersionVector.from({ 'eu.1': 5 })));
    expect(start.size()).toBe(0);
    const { set, dot: minted } = start.update(undefined, 'eu.1', 1);
    expect(minted).toEqual({ actor: 'eu.1', counter: 6 });
    const old = DvvSet.empty<number>().update(VersionVector.from({ 'eu.1': 2 }), 'eu.1', 0).set; // holds eu.1:3
    expect(set.sync(old).values()).toEqual([1]);
    expect(DvvSet.seen(CausalContext.empty)).toBe(DvvSet.empty());
  });
});
