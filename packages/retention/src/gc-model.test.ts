/**
 * The tombstone GC against a model that never purges: three regions run the same random history
 * twice — writes (blind and read-modify-write), deletes, delivery per partition (heartbeats on
 * partition 0, each key on its own: a heartbeat may overtake the updates sent before it, and a
 * region may write while it lags) with duplicates,
 * poison updates dead-lettered and redriven later, heartbeats, time passing — once purging
 * whatever `decideGc`/`mayPurge` allow (and minting a key without a row from `freshDotBase`),
 * once never purging. Every region must read the same values for every key in both, after every
 * step: a purge never brings a deleted value back, never loses a write, never changes a read.
 * Registers here are the causal core of Meridian's (a DVV set whose versions are values or
 * tombstones), merged as the replicator merges them.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CausalContext, DvvSet, VersionVector, type ActorId } from '@meridian/causality';
import { decideGc, freshDotBase, mayPurge, withSample, type RegionView, type StreamSample } from './gc-frontier.ts';

/** A register version: a value or a tombstone (undefined), and the wall time of its HLC. */
interface Version {
  readonly value: string | undefined;
  readonly wallMs: number;
}
type Register = DvvSet<Version>;

type Entry =
  | { readonly kind: 'update'; readonly sequence: bigint; readonly key: string; readonly state: Register }
  | { readonly kind: 'beat'; readonly wallMs: number; readonly highWater: bigint; readonly applied: ReadonlyMap<string, bigint> };

const REGIONS = ['eu', 'us', 'ap'] as const;
const KEYS = ['k1', 'k2', 'k3'] as const;
/** Heartbeats go on partition 0; k1 and k3 share partition 1, k2 has partition 2. */
const PARTITIONS = [0, 1, 2] as const;
const partitionOf = (entry: Entry): number => (entry.kind === 'beat' ? 0 : KEYS.indexOf(entry.key as (typeof KEYS)[number]) % 2 + 1);
const actorOf = (region: string): ActorId => `${region}.1`;

interface Region {
  readonly name: string;
  readonly stream: Entry[];
  sequence: bigint;
  readonly keys: Map<string, Register>;
  /** origin actor → every sequence up to it applied (the applied vector). */
  readonly applied: Map<string, bigint>;
  /** origin actor → sequences applied above the contiguous prefix (partitions arrive out of order). */
  readonly ahead: Map<string, Set<bigint>>;
  /** `origin/partition` → how many of that partition's entries this region has read. */
  readonly read: Map<string, number>;
  /** key → updates held behind a dead letter (the first is the dead letter itself). */
  readonly quarantine: Map<string, Register[]>;
  /** region → its samples, and its last heartbeat's applied vector. */
  readonly samples: Map<string, StreamSample[]>;
  readonly heard: Map<string, ReadonlyMap<string, bigint>>;
}

class World {
  readonly regions: Region[];
  now = 1_000_000;
  purged = 0;
  readonly gc: boolean;
  readonly minAgeMs: number;
  constructor(gc: boolean, minAgeMs: number) {
    this.gc = gc;
    this.minAgeMs = minAgeMs;
    this.regions = REGIONS.map((name) => ({
      name, stream: [], sequence: 0n, keys: new Map(), applied: new Map(), ahead: new Map(), read: new Map(), quarantine: new Map(), samples: new Map(), heard: new Map(),
    }));
  }

  region(name: string): Region {
    return this.regions.find((r) => r.name === name)!;
  }

  /** Live values of a key, sorted (what a read answers). */
  values(region: string, key: string): string[] {
    const state = this.region(region).keys.get(key);
    return (state?.values() ?? []).flatMap((v) => (v.value === undefined ? [] : [v.value])).sort();
  }

  write(name: string, key: string, value: string | undefined, readFirst: boolean): void {
    const r = this.region(name);
    const actor = actorOf(name);
    const row = r.keys.get(key);
    // A key without a row starts from the dots this region must never mint for it again.
    const start = row ?? (this.gc ? DvvSet.seen<Version>(CausalContext.fromVector(VersionVector.from({ [actor]: freshDotBase(this.now) - 1 }))) : DvvSet.empty<Version>());
    // A read of a key without a row answers no context (404): the write is blind.
    const context = readFirst && row ? row.context() : undefined;
    const next = start.update(context, actor, { value, wallMs: this.now }).set;
    r.keys.set(key, next);
    r.sequence += 1n;
    r.stream.push({ kind: 'update', sequence: r.sequence, key, state: next });
  }

  beat(name: string): void {
    const r = this.region(name);
    r.stream.push({ kind: 'beat', wallMs: this.now, highWater: r.sequence, applied: new Map(r.applied) });
    r.samples.set(name, withSample(r.samples.get(name) ?? [], { wallMs: this.now, highWater: r.sequence }));
    this.#decide(r);
  }

  gossip(): void {
    for (const r of REGIONS) this.beat(r);
    for (const to of REGIONS) for (const from of REGIONS) if (to !== from) this.deliver(to, from, 1_000_000, false, 0);
  }

  #merge(r: Region, key: string, state: Register): void {
    const row = r.keys.get(key);
    r.keys.set(key, row ? row.sync(state) : state);
  }

  /** The entries of `from`'s stream on `partition`, in order. */
  #partition(from: string, partition: number): Entry[] {
    return this.region(from).stream.filter((e) => partitionOf(e) === partition);
  }

  /**
   * `to` reads the next `count` entries of `from`'s stream on `partition` (undefined: in stream
   * order across partitions); a poison update is dead-lettered and quarantines its key.
   */
  deliver(to: string, from: string, count: number, poison: boolean, partition?: number): void {
    const r = this.region(to);
    const actor = actorOf(from);
    for (let i = 0; i < count; i++) {
      let next: { p: number; at: number; entry: Entry } | undefined;
      for (const p of partition === undefined ? PARTITIONS : [partition]) {
        const at = r.read.get(`${from}/${p}`) ?? 0;
        const entry = this.#partition(from, p)[at];
        if (entry && (!next || this.region(from).stream.indexOf(entry) < this.region(from).stream.indexOf(next.entry))) next = { p, at, entry };
      }
      if (!next) return;
      r.read.set(`${from}/${next.p}`, next.at + 1);
      this.#consume(r, from, actor, next.entry, poison && i === 0);
    }
  }

  /** `to` reads an entry of `from`'s stream it has read before again (a redelivery, or a replay from the start). */
  duplicate(to: string, from: string, pick: number): void {
    const r = this.region(to);
    const read = PARTITIONS.flatMap((p) => this.#partition(from, p).slice(0, r.read.get(`${from}/${p}`) ?? 0));
    if (read.length === 0) return;
    this.#consume(r, from, actorOf(from), read[pick % read.length]!, false);
  }

  #consume(r: Region, from: string, actor: string, entry: Entry, poison: boolean): void {
    if (entry.kind === 'beat') {
      r.samples.set(from, withSample(r.samples.get(from) ?? [], { wallMs: entry.wallMs, highWater: entry.highWater }));
      const heard = r.heard.get(from);
      // Applied vectors only grow; a redelivered old heartbeat changes nothing.
      if (!heard || [...entry.applied].every(([a, n]) => n >= (heard.get(a) ?? 0n))) r.heard.set(from, entry.applied);
      this.#decide(r); // a region decides every round: every heartbeat it holds is annotated
      return;
    }
    const ahead = r.ahead.get(actor) ?? new Set<bigint>();
    r.ahead.set(actor, ahead);
    if (entry.sequence <= (r.applied.get(actor) ?? 0n) || ahead.has(entry.sequence)) return; // a duplicate
    ahead.add(entry.sequence);
    let contiguous = r.applied.get(actor) ?? 0n;
    while (ahead.delete(contiguous + 1n)) contiguous++;
    r.applied.set(actor, contiguous);
    const held = r.quarantine.get(entry.key);
    if (held) held.push(entry.state);
    else if (poison) r.quarantine.set(entry.key, [entry.state]);
    else this.#merge(r, entry.key, entry.state);
  }

  /** The operator redrives a key's dead letter: it and the updates held behind it apply in order. */
  redrive(name: string, key: string): void {
    const r = this.region(name);
    const held = r.quarantine.get(key);
    if (!held) return;
    r.quarantine.delete(key);
    for (const state of held) this.#merge(r, key, state);
  }

  /** `r`'s GC decision now (it keeps the samples the decision keeps, annotated). */
  #decide(r: Region): number | undefined {
    const name = r.name;
    const views: RegionView[] = this.regions.map((other): RegionView => ({
      region: other.name,
      applied: other.name === name ? r.applied : r.heard.get(other.name),
      actor: actorOf(other.name),
      samples: r.samples.get(other.name) ?? [],
    }));
    const plan = decideGc({ regions: views, nowMs: this.now, minAgeMs: this.minAgeMs, blockedAfterMs: this.minAgeMs });
    for (const [region, samples] of plan.keep) r.samples.set(region, [...samples]);
    return plan.purgeBeforeMs;
  }

  collect(name: string): void {
    if (!this.gc) return;
    const r = this.region(name);
    const purgeBeforeMs = this.#decide(r);
    for (const [key, state] of r.keys) {
      const versions = state.values();
      const candidate = {
        tombstoneOnly: versions.length > 0 && versions.every((v) => v.value === undefined),
        newestWallMs: Math.max(...versions.map((v) => v.wallMs)),
        quarantined: r.quarantine.has(key),
      };
      if (mayPurge(candidate, purgeBeforeMs)) {
        r.keys.delete(key);
        this.purged++;
      }
    }
  }
}

const region = fc.constantFrom(...REGIONS);
// Mostly one key: deletes and writes that race need to meet on the same register.
const key = fc.oneof({ weight: 4, arbitrary: fc.constant<(typeof KEYS)[number]>('k1') }, { weight: 2, arbitrary: fc.constantFrom(...KEYS) });
const step = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('write' as const), region, key, value: fc.option(fc.constantFrom('a', 'b', 'c', 'd'), { nil: undefined, freq: 3 }), readFirst: fc.boolean() }) },
  { weight: 6, arbitrary: fc.record({ op: fc.constant('deliver' as const), to: region, from: region, count: fc.integer({ min: 1, max: 4 }), poison: fc.integer({ min: 0, max: 14 }).map((n) => n === 0), partition: fc.constantFrom(...PARTITIONS) }, { requiredKeys: ['op', 'to', 'from', 'count', 'poison'] }) },
  // Every region beats and reads every heartbeat: partition 0 runs ahead of the updates.
  { weight: 2, arbitrary: fc.record({ op: fc.constant('gossip' as const) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('duplicate' as const), to: region, from: region, pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('beat' as const), region }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('redrive' as const), region, key }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 400 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('collect' as const), region }) },
);
type Step = typeof step extends fc.Arbitrary<infer S> ? S : never;

function run(world: World, s: Step): void {
  switch (s.op) {
    case 'write': return world.write(s.region, s.key, s.value, s.readFirst);
    case 'deliver': return s.to === s.from ? undefined : world.deliver(s.to, s.from, s.count, s.poison, s.partition);
    case 'duplicate': return s.to === s.from ? undefined : world.duplicate(s.to, s.from, s.pick);
    case 'beat': return world.beat(s.region);
    case 'gossip': return world.gossip();
    case 'redrive': return world.redrive(s.region, s.key);
    case 'tick': world.now += s.ms; return;
    case 'collect': return world.collect(s.region);
  }
}

/** Everything delivered, every dead letter redriven, heartbeats exchanged three times, and every region collecting. */
function settle(world: World): void {
  for (let round = 0; round < 3; round++) {
    for (const r of REGIONS) world.beat(r);
    for (const to of REGIONS) for (const from of REGIONS) if (to !== from) world.deliver(to, from, 1_000_000, false);
    for (const r of REGIONS) for (const k of KEYS) world.redrive(r, k);
    world.now += 10_000;
    for (const r of REGIONS) world.collect(r);
  }
}

function readsOf(world: World): Record<string, string[]> {
  return Object.fromEntries(REGIONS.flatMap((r) => KEYS.map((k) => [`${r}/${k}`, world.values(r, k)])));
}

/** Runs `steps` in a purging world and in the model, comparing every read after every step; returns the purging world. */
function replay(steps: readonly Step[]): World {
  const purging = new World(true, 300);
  const model = new World(false, 300);
  for (const s of steps) {
    run(purging, s);
    run(model, s);
    expect(readsOf(purging)).toEqual(readsOf(model));
  }
  return purging;
}

/** Heartbeats everywhere, everything delivered, time past the min age, three times: every region knows what every other applied, and knew it a min age ago. */
const exchange = (excluding: string[] = []): Step[] => {
  const live = REGIONS.filter((r) => !excluding.includes(r));
  const once: Step[] = [
    ...live.map((r): Step => ({ op: 'beat', region: r })),
    ...live.flatMap((to) => live.filter((from) => from !== to).map((from): Step => ({ op: 'deliver', to, from, count: 100, poison: false }))),
    { op: 'tick', ms: 400 },
  ];
  return [...once, ...once, ...once];
};

describe('tombstone GC against a model that never purges', () => {
  it('a key written again after its purge here, while a peer still holds its tombstone, is not lost there (fresh dots)', () => {
    const purging = replay([
      { op: 'write', region: 'eu', key: 'k1', value: 'a', readFirst: false },
      { op: 'write', region: 'eu', key: 'k1', value: undefined, readFirst: true },
      ...exchange(),
      { op: 'collect', region: 'eu' },
      { op: 'write', region: 'eu', key: 'k1', value: 'b', readFirst: true },
      ...exchange(),
    ]);
    expect(purging.purged).toBe(1);
    expect(purging.values('us', 'k1')).toEqual(['b']);
  });

  it('a dead letter redriven after GC elsewhere brings nothing back: its key is not purged while it waits', () => {
    const purging = replay([
      { op: 'write', region: 'eu', key: 'k1', value: 'a', readFirst: false },
      { op: 'deliver', to: 'us', from: 'eu', count: 1, poison: false },
      { op: 'write', region: 'us', key: 'k1', value: undefined, readFirst: true },
      { op: 'deliver', to: 'ap', from: 'us', count: 1, poison: false }, // ap holds the tombstone first…
      { op: 'deliver', to: 'ap', from: 'eu', count: 1, poison: true }, // …then dead-letters the write it covers
      ...exchange(),
      ...REGIONS.map((region): Step => ({ op: 'collect', region })),
      { op: 'redrive', region: 'ap', key: 'k1' },
      ...REGIONS.map((region): Step => ({ op: 'collect', region })),
    ]);
    expect(purging.purged).toBe(3);
    expect(REGIONS.map((r) => purging.values(r, 'k1'))).toEqual([[], [], []]);
  });

  it('a paused region holds GC back; once it resumes after the others purged, nothing comes back', () => {
    const paused: Step[] = [
      { op: 'write', region: 'eu', key: 'k1', value: 'a', readFirst: false },
      { op: 'write', region: 'eu', key: 'k1', value: undefined, readFirst: true },
      ...exchange(),
      // ap pauses: it sends nothing and reads nothing while the others write, delete and collect.
      { op: 'write', region: 'us', key: 'k2', value: 'd', readFirst: false },
      { op: 'write', region: 'us', key: 'k2', value: undefined, readFirst: true },
      ...exchange(['ap']),
      { op: 'collect', region: 'eu' },
      { op: 'collect', region: 'us' },
    ];
    // k1 (applied by ap before it paused) goes in eu and us; k2 waits for ap.
    expect(replay(paused).purged).toBe(2);
    const purging = replay([
      ...paused,
      // Replaying ap's and every peer's stream from its start changes nothing either.
      ...REGIONS.flatMap((to) => REGIONS.filter((from) => from !== to).flatMap((from) => [0, 1, 2, 3].map((pick): Step => ({ op: 'duplicate', to, from, pick })))),
      ...exchange(),
      ...REGIONS.map((region): Step => ({ op: 'collect', region })),
      ...exchange(),
      ...REGIONS.map((region): Step => ({ op: 'collect', region })),
    ]);
    expect(purging.purged).toBe(6);
  });

  it('a write made at a region that had not applied the delete yet, overtaken by its heartbeat, brings nothing back', () => {
    // us holds eu's 'a' and writes k1 blind (its update carries 'a' beside 'b') before it applies
    // eu's delete; its heartbeats (partition 0) reach eu long before that update (partition 1).
    const lagging: Step[] = [
      { op: 'write', region: 'eu', key: 'k1', value: 'a', readFirst: false },
      { op: 'deliver', to: 'us', from: 'eu', count: 1, poison: false },
      { op: 'deliver', to: 'ap', from: 'eu', count: 1, poison: false },
      { op: 'write', region: 'eu', key: 'k1', value: undefined, readFirst: true },
      { op: 'deliver', to: 'ap', from: 'eu', count: 1, poison: false },
      { op: 'tick', ms: 400 },
      { op: 'gossip' },
      { op: 'write', region: 'us', key: 'k1', value: 'b', readFirst: false },
      { op: 'deliver', to: 'us', from: 'eu', count: 10, poison: false },
      ...[0, 1, 2].flatMap((): Step[] => [{ op: 'tick', ms: 400 }, { op: 'gossip' }, ...REGIONS.map((region): Step => ({ op: 'collect', region }))]),
    ];
    expect(replay(lagging).purged).toBe(0); // held back while us's update is not applied everywhere
    const settled = [...lagging, ...exchange(), ...REGIONS.map((region): Step => ({ op: 'collect', region }))];
    expect(REGIONS.map((r) => replay(settled).values(r, 'k1'))).toEqual([['b'], ['b'], ['b']]);
    // Deleted again once everyone holds 'b': now it goes everywhere, and nothing comes back.
    const purging = replay([...settled, { op: 'write', region: 'ap', key: 'k1', value: undefined, readFirst: true }, ...exchange(), ...REGIONS.map((region): Step => ({ op: 'collect', region }))]);
    expect(purging.purged).toBe(3);
    expect(REGIONS.map((r) => purging.values(r, 'k1'))).toEqual([[], [], []]);
  });

  it('every region reads the same values for every key after every step, and after the network settles', () => {
    let purgedRuns = 0;
    fc.assert(
      fc.property(fc.array(step, { minLength: 20, maxLength: 160 }), (steps) => {
        const purging = new World(true, 300);
        const model = new World(false, 300);
        for (const s of steps) {
          run(purging, s);
          run(model, s);
          expect(readsOf(purging)).toEqual(readsOf(model));
        }
        settle(purging);
        settle(model);
        expect(readsOf(purging)).toEqual(readsOf(model));
        // Settled: every region reads the same as every other.
        for (const k of KEYS) for (const r of REGIONS) expect(purging.values(r, k)).toEqual(purging.values('eu', k));
        if (purging.purged > 0) purgedRuns++;
      }),
      { numRuns: 300 },
    );
    // The property is only worth something if purges happen in many runs.
    expect(purgedRuns).toBeGreaterThan(30);
  }, 60_000);
});
