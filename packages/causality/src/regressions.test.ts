/**
 * Every shrunk counterexample met while building this package, as a fixed case, so that it keeps
 * being checked whatever the random seed. Each says where it came from: a bug in a law test
 * itself, or a mutant of the code (a deliberately broken line) that the suites had to learn to
 * catch. Append, never delete.
 */
import { describe, it, expect } from 'vitest';
import { compareDots, type ActorId } from './actor.ts';
import { CausalContext } from './causal-context.ts';
import { CausalityError, CausalityErrorCode } from './causality-error.ts';
import { DvvSet } from './dvv-set.ts';
import { VersionVector } from './version-vector.ts';

const EU1 = [2, 0x65, 0x75, 1]; // actor "eu.1"
const EU2 = [2, 0x65, 0x75, 2]; // actor "eu.2"
const AP_SOUTH3 = [8, ...Buffer.from('ap-south', 'ascii'), 3]; // actor "ap-south.3"

function expectRefused(decode: () => unknown): void {
  let error: unknown;
  try {
    decode();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(CausalityError);
  expect((error as CausalityError).code).toBe(CausalityErrorCode.InvalidEncoding);
}

describe('regressions', () => {
  // actor.test.ts, compareDots antisymmetry: the test compared Math.sign(x) with -Math.sign(y), and 0 !== -0 for Object.is.
  it('compareDots of equal dots is 0 both ways', () => {
    const [a, b] = [{ actor: 'us.1', counter: 3 }, { actor: 'us.1', counter: 3 }];
    expect(compareDots(a, b) === 0 && compareDots(b, a) === 0).toBe(true);
    expect(compareDots(a, { actor: 'ap-south.3', counter: 1 })).toBeGreaterThan(0);
  });

  // version-vector.test.ts, join laws: the predicate returned expect()'s result, which fast-check read as false.
  it('joins of empty vectors are empty', () => {
    const empty = VersionVector.from({});
    expect(empty.join(VersionVector.empty).equals(VersionVector.empty)).toBe(true);
    expect(empty.join(empty).join(empty).equals(VersionVector.empty)).toBe(true);
  });

  // version-vector.test.ts, fromJSON over fc.anything(): a null-prototype object is a valid record.
  it('fromJSON accepts an object without prototype', () => {
    expect(VersionVector.fromJSON(Object.create(null)).equals(VersionVector.empty)).toBe(true);
    const record = Object.assign(Object.create(null) as Record<string, number>, { 'eu.1': 2 });
    expect(VersionVector.fromJSON(record).get('eu.1')).toBe(2);
  });

  // binary-encoding.test.ts, mutant "VersionVector.decode accepts a zero counter".
  it('refuses a version vector that stores a zero counter', () => {
    expectRefused(() => VersionVector.decode(Uint8Array.from([0x56, 1, 2, ...EU1, 7, ...EU2, 0])));
  });

  // binary-encoding.test.ts, mutant "VersionVector.decode accepts actors out of order".
  it('refuses a version vector with a repeated actor', () => {
    expectRefused(() => VersionVector.decode(Uint8Array.from([0x56, 1, 2, ...AP_SOUTH3, 1, ...AP_SOUTH3, 1])));
  });

  // binary-encoding.test.ts, mutant "CausalContext.decode accepts an actor without dots".
  it('refuses a causal context that lists an actor without any dot', () => {
    expectRefused(() => CausalContext.decode(Uint8Array.from([0x43, 1, 1, ...EU1, 0, 0])));
    expectRefused(() => CausalContext.decode(Uint8Array.from([0x43, 1, 1, ...AP_SOUTH3, 0, 0])));
  });

  // binary-encoding.test.ts, mutant "CausalContext.decode accepts actors out of order".
  it('refuses a causal context with a repeated actor', () => {
    expectRefused(() => CausalContext.decode(Uint8Array.from([0x43, 1, 2, ...AP_SOUTH3, 0, 1, 0, ...AP_SOUTH3, 0, 1, 0])));
  });

  // binary-encoding.test.ts, mutant "DvvSet.decode accepts a version counter of 0".
  it('refuses a DvvSet version with counter 0', () => {
    expectRefused(() => DvvSet.decode(Uint8Array.from([0x44, 1, 1, ...EU1, 1, 0, 1, 0, 0, 0]), (b) => b));
  });

  // binary-encoding.test.ts, mutant "DvvSet.decode accepts versions out of order".
  it('refuses DvvSet versions out of order', () => {
    expectRefused(() => DvvSet.decode(Uint8Array.from([0x44, 1, 1, ...EU1, 3, 0, 2, 0, 2, 0, 0, 1, 0]), (b) => b));
    expect(DvvSet.decode(Uint8Array.from([0x44, 1, 1, ...EU1, 3, 0, 2, 0, 1, 0, 0, 2, 0]), (b) => b).size()).toBe(2);
  });

  // The deliberate demonstration (VersionVector.join taking min instead of max), least-upper-bound law.
  it('the join of vectors with disjoint actors holds both', () => {
    const joined = VersionVector.from({ 'ap-south.3': 1 }).join(VersionVector.from({ 'eu.2': 1 }));
    expect(joined.toJSON()).toEqual({ 'ap-south.3': 1, 'eu.2': 1 });
    expect(joined.compare(VersionVector.from({ 'eu.2': 1 }))).toBe('after');
  });

  // The same demonstration, DvvSet convergence: two blind writes at two regions, one delivery.
  it('blind writes at two regions stay siblings after a delivery either way', () => {
    const regions: ActorId[] = ['eu.1', 'us.1'];
    const [a, b] = regions.map((actor, i) => DvvSet.empty<number>().update(undefined, actor, i).set) as [DvvSet<number>, DvvSet<number>];
    expect(a.sync(b).values()).toEqual([0, 1]);
    expect(b.sync(a).values()).toEqual([0, 1]);
    expect(a.sync(b).context().toJSON()).toEqual({ 'eu.1': 1, 'us.1': 1 });
  });
});
