/**
 * The region service's interface: REST op validation with clear messages, apply = state + delta, the
 * concurrency helper, and typed refusals.
 */
import { describe, expect, it } from 'vitest';
import { CrdtError, CrdtErrorCode } from './crdt-error.ts';
import { counterKind, crdtKind, crdtKinds, mapKind, setKind, type AnyCrdtKind } from './crdt-kind.ts';

const EU = 'eu.1';
const US = 'us.1';

function refusal(run: () => unknown): { code: string; message: string } {
  try {
    run();
  } catch (error) {
    if (!(error instanceof CrdtError)) throw error;
    return { code: error.code, message: error.message };
  }
  throw new Error('accepted');
}

describe('validateOp', () => {
  it('counter: {"increment": n}, n a non-zero safe integer', () => {
    expect(counterKind.validateOp({ increment: -3 })).toEqual({ increment: -3 });
    for (const bad of [{ increment: 0 }, { increment: 1.5 }, { increment: '1' }, { increment: 2 ** 53 }, {}, [], null, 5, { increment: 1, by: 2 }]) {
      expect(refusal(() => counterKind.validateOp(bad)).code).toBe(CrdtErrorCode.InvalidOp);
    }
    expect(refusal(() => counterKind.validateOp({ increment: 1.5 })).message).toBe('counter op "increment": expected a non-zero integer between -(2^53 - 1) and 2^53 - 1 (got 1.5)');
    expect(refusal(() => counterKind.validateOp({ incremnt: 1 })).message).toBe('counter op: unknown member "incremnt"; expected "increment"');
  });

  it('set: exactly one of {"add": [...]} / {"remove": [...]}, non-empty, repeats counted once', () => {
    expect(setKind.validateOp({ add: [1, { b: 1, a: 2 }, 1] })).toEqual({ add: [1, { a: 2, b: 1 }] });
    expect(setKind.validateOp({ remove: ['x'] })).toEqual({ remove: ['x'] });
    expect(refusal(() => setKind.validateOp({ add: [1], remove: [2] })).message).toMatch(/exactly one of "add" or "remove" \(got both\)/);
    expect(refusal(() => setKind.validateOp({ add: [] })).message).toMatch(/non-empty array/);
    expect(refusal(() => setKind.validateOp({ add: 'x' })).message).toMatch(/non-empty array/);
    expect(refusal(() => setKind.validateOp({ context: 'token', remove: [1] })).message).toMatch(/unknown member "context"/);
  });

  it('map: set / increment / add / remove / delete on distinct fields', () => {
    expect(mapKind.validateOp({ set: { name: 'Ada' }, increment: { n: 2 }, add: { tags: ['x'] }, remove: { old: [1] }, delete: ['gone', 'gone'] })).toEqual({
      set: [['name', 'Ada']],
      increment: [['n', 2]],
      add: [['tags', ['x']]],
      remove: [['old', [1]]],
      delete: ['gone'],
    });
    const cases: [unknown, RegExp][] = [
      [{}, /at least one of/],
      [{ set: {} }, /at least one field/],
      [{ set: [] }, /expected an object of fields/],
      [{ set: { a: 1 }, increment: { a: 1 } }, /field "a" appears in both "set" and "increment"/],
      [{ set: { a: 1 }, delete: ['a'] }, /appears in both "set" and "delete"/],
      [{ increment: { n: 0 } }, /map op "increment"\."n": expected a non-zero integer/],
      [{ add: { s: [] } }, /map op "add"\."s": expected a non-empty array/],
      [{ set: { '': 1 } }, /1 to 256 characters/],
      [{ set: { ['x'.repeat(257)]: 1 } }, /1 to 256 characters/],
      [{ set: { '\ud800': 1 } }, /not well-formed/],
      [{ delete: [] }, /non-empty array of field names/],
      [{ delete: [1] }, /field names must be strings/],
      [{ put: { a: 1 } }, /unknown member "put"/],
    ];
    for (const [op, message] of cases) expect(refusal(() => mapKind.validateOp(op)).message).toMatch(message);
  });

  it('values must be plain JSON, at most 64 deep', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 70; i++) deep = [deep];
    expect(refusal(() => setKind.validateOp({ add: [deep] })).message).toMatch(/deeper than 64/);
    expect(refusal(() => mapKind.validateOp({ set: { a: Number.NaN } })).code).toBe(CrdtErrorCode.InvalidOp);
  });
});

describe('kinds', () => {
  it('apply returns the new state and a delta that a peer joins to the same state', () => {
    const kinds: [AnyCrdtKind, unknown][] = [
      [counterKind, { increment: 4 }],
      [setKind, { add: ['x'] }],
      [mapKind, { set: { a: 1 }, add: { s: [2] } }],
    ];
    for (const [kind, body] of kinds) {
      const { state, delta } = kind.apply(kind.empty(), kind.validateOp(body), { actor: EU, hlc: 1n });
      const peer = kind.join(kind.empty(), kind.decode(kind.encode(delta)));
      expect(kind.equals(peer, state)).toBe(true);
      expect(kind.digest(peer)).toBe(kind.digest(state));
      expect(kind.isBottom(kind.empty())).toBe(true);
      expect(kind.isBottom(state)).toBe(false);
    }
    const set = setKind.apply(setKind.empty(), setKind.validateOp({ add: ['x', 'y'] }), { actor: EU }).state;
    expect(setKind.value(set)).toEqual(['x', 'y']);
  });

  it('concurrent tells whether neither state has seen all of the other', () => {
    const base = setKind.apply(setKind.empty(), { add: ['x'] }, { actor: EU }).state;
    const a = setKind.apply(base, { add: ['y'] }, { actor: EU }).state;
    const b = setKind.apply(base, { remove: ['x'] }, { actor: US }).state;
    expect(setKind.concurrent(base, a)).toBe(false);
    expect(setKind.concurrent(a, b)).toBe(false); // the remove mints no dot: b's context is base's
    const c = setKind.apply(base, { add: ['z'] }, { actor: US }).state;
    expect(setKind.concurrent(a, c)).toBe(true);
    const n1 = counterKind.apply(counterKind.empty(), { increment: 1 }, { actor: EU }).state;
    const n2 = counterKind.apply(counterKind.empty(), { increment: 1 }, { actor: US }).state;
    expect(counterKind.concurrent(n1, n2)).toBe(true);
    expect(counterKind.concurrent(n1, counterKind.join(n1, n2))).toBe(false);
    const m1 = mapKind.apply(mapKind.empty(), { set: [['a', 1]], increment: [], add: [], remove: [], delete: [] }, { actor: EU, hlc: 1n }).state;
    const m2 = mapKind.apply(mapKind.empty(), { set: [['a', 2]], increment: [], add: [], remove: [], delete: [] }, { actor: US, hlc: 1n }).state;
    expect(mapKind.concurrent(m1, m2)).toBe(true);
  });

  it('set remove with the client’s observed context', () => {
    const seen = setKind.apply(setKind.empty(), { add: ['x'] }, { actor: EU }).state;
    const later = setKind.apply(seen, { add: ['x'] }, { actor: US }).state;
    const removed = setKind.apply(later, { remove: ['x'] }, { actor: EU, observed: seen.context }).state;
    expect(setKind.value(removed)).toEqual(['x']);
  });

  it('map apply refuses a type clash with a typed error and no state change', () => {
    const { state } = mapKind.apply(mapKind.empty(), mapKind.validateOp({ increment: { n: 1 } }), { actor: EU });
    expect(refusal(() => mapKind.apply(state, mapKind.validateOp({ add: { n: ['x'] } }), { actor: EU })).code).toBe(CrdtErrorCode.FieldTypeClash);
    expect(mapKind.value(state)).toEqual({ n: 1 });
  });

  it('crdtKinds names the three CRDT namespaces; crdtKind looks one up', () => {
    expect(Object.keys(crdtKinds)).toEqual(['counter', 'set', 'map']);
    for (const [name, kind] of Object.entries(crdtKinds)) expect(kind.name).toBe(name);
    expect(crdtKind('map')).toBe(mapKind);
    expect(crdtKind('lww')).toBeUndefined();
    expect(crdtKind('toString')).toBeUndefined();
  });

  it('decode refuses another kind’s bytes with a typed error', () => {
    const counter = counterKind.encode(counterKind.apply(counterKind.empty(), { increment: 1 }, { actor: EU }).state);
    expect(refusal(() => setKind.decode(counter))).toEqual({ code: CrdtErrorCode.InvalidEncoding, message: 'not an encoded ORSet: expected type byte 0x73 (got 0x70 (PNCounter))' });
    expect(refusal(() => mapKind.fromJSON({ type: 'or-set', version: 1 })).code).toBe(CrdtErrorCode.InvalidEncoding);
  });
});
