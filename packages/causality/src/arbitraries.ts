/**
 * fast-check arbitraries shared by this package's property tests (test support only; nothing in
 * the package's runtime imports it).
 *
 * The actor pool is small on purpose, so that random vectors and dot sets collide often enough to
 * produce every ordering, gaps and folds; it includes "eu.10" beside "eu.2" because string order
 * and numeric epoch order disagree there.
 */
import fc from 'fast-check';
import { type ActorId, type Dot } from './actor.ts';
import { HLC_MAX_LOGICAL, HLC_MAX_PHYSICAL_MS, hlc, type Hlc } from './hybrid-logical-clock.ts';
import { VersionVector } from './version-vector.ts';

export const ACTORS: readonly ActorId[] = ['ap-south.3', 'eu.1', 'eu.10', 'eu.2', 'us.1'];

export const actorArb: fc.Arbitrary<ActorId> = fc.constantFrom(...ACTORS);

/** Any valid actor id, edge cases included (32-character regions, the largest epoch). */
export const anyActorArb: fc.Arbitrary<ActorId> = fc
  .tuple(
    fc.stringMatching(/^[a-z][a-z0-9-]{0,31}$/),
    fc.oneof(fc.integer({ min: 1, max: 20 }), fc.constant(Number.MAX_SAFE_INTEGER), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER })),
  )
  .map(([region, epoch]) => `${region}.${epoch}`);

export function dotArb(maxCounter = 12): fc.Arbitrary<Dot> {
  return fc.record({ actor: actorArb, counter: fc.integer({ min: 1, max: maxCounter }) });
}

/** A plain record of counters (zeros included, to be dropped), small so that orderings collide. */
export function counterRecordArb(maxCounter = 4): fc.Arbitrary<Record<ActorId, number>> {
  return fc.dictionary(actorArb, fc.nat({ max: maxCounter }), { maxKeys: ACTORS.length });
}

export function vectorArb(maxCounter = 4): fc.Arbitrary<VersionVector> {
  return counterRecordArb(maxCounter).map((record) => VersionVector.from(record));
}

/** Vectors with counters across the whole safe range, for encodings. */
export const wideVectorArb: fc.Arbitrary<VersionVector> = fc
  .dictionary(anyActorArb, fc.oneof(fc.nat({ max: 300 }), fc.constant(Number.MAX_SAFE_INTEGER), fc.nat({ max: Number.MAX_SAFE_INTEGER })), { maxKeys: 6 })
  .map((record) => VersionVector.from(record));

const physicalArb = fc.oneof(
  fc.integer({ min: 1_700_000_000_000, max: 1_700_000_000_050 }),
  fc.constantFrom(0, HLC_MAX_PHYSICAL_MS - 1),
  fc.integer({ min: 0, max: HLC_MAX_PHYSICAL_MS - 1 }),
);
const logicalArb = fc.oneof(fc.constantFrom(0, 1, HLC_MAX_LOGICAL - 1, HLC_MAX_LOGICAL), fc.nat({ max: HLC_MAX_LOGICAL }));

/** Timestamps below the last physical millisecond (so that +1 never overflows 64 bits). */
export const hlcArb: fc.Arbitrary<Hlc> = fc.tuple(physicalArb, logicalArb).map(([physical, logical]) => hlc(physical, logical));

/** `items` reordered by `keys` (random numbers, one per item): a random permutation that shrinks well. */
export function permute<T>(items: readonly T[], keys: readonly number[]): T[] {
  return items
    .map((item, i) => ({ item, key: keys[i] ?? i }))
    .sort((a, b) => a.key - b.key)
    .map(({ item }) => item);
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}
