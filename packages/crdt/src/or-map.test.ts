/**
 * The OR-Map's semantics, case by case: LWW registers ordered by causality then (HLC, dot), observed-remove
 * field deletes where concurrent updates survive, the causal counter, type clashes and their resolution.
 */
import { describe, expect, it } from 'vitest';
import { CrdtError, CrdtErrorCode } from './crdt-error.ts';
import { FieldType, ORMap } from './or-map.ts';

const EU = 'eu.1';
const US = 'us.1';

function apply(state: ORMap, delta: ORMap): ORMap {
  return state.join(delta);
}

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    return error instanceof CrdtError ? error.code : 'not a CrdtError';
  }
  return undefined;
}

describe('ORMap', () => {
  it('holds registers, counters and sets side by side', () => {
    let m = ORMap.empty;
    m = apply(m, m.mutate({ set: [['name', 'Ada']], increment: [['visits', 2]], add: [['tags', ['x', 'y']]] }, { actor: EU, hlc: 10n }));
    m = apply(m, m.increment(EU, 'visits', -5));
    m = apply(m, m.remove('tags', ['x']));
    expect(m.value()).toEqual({ name: 'Ada', tags: ['y'], visits: -3 });
    expect(m.fieldType('visits')).toBe(FieldType.Counter);
    expect(m.get('visits')).toEqual({ type: 'counter', value: -3n });
  });

  it('one operation mints one dot per field write and per element, never shared', () => {
    const delta = ORMap.empty.mutate({ set: [['a', 1]], add: [['s', ['x', 'y']]] }, { actor: EU, hlc: 1n });
    expect(delta.context.vector.get(EU)).toBe(3);
    // Deleting one field must not take the other with it.
    const m = apply(ORMap.empty, delta);
    expect(apply(m, m.delete(['s'])).value()).toEqual({ a: 1 });
  });

  it('a register write supersedes what it observed, whatever the HLCs; concurrent writes go by (HLC, dot)', () => {
    let m = ORMap.empty;
    m = apply(m, m.set(EU, 50n, 'f', 'old'));
    m = apply(m, m.set(US, 10n, 'f', 'new')); // saw "old": supersedes it despite the lower HLC
    expect(m.value()).toEqual({ f: 'new' });
    const base = m;
    const fromEu = base.set(EU, 20n, 'f', 'eu');
    const fromUs = base.set(US, 20n, 'f', 'us'); // same HLC: the greater dot wins (us.1 > eu.1)
    expect(apply(apply(base, fromEu), fromUs).value()).toEqual({ f: 'us' });
    expect(apply(apply(base, fromUs), fromEu).value()).toEqual({ f: 'us' });
    const later = base.set(EU, 21n, 'f', 'later');
    expect(apply(apply(base, fromUs), later).value()).toEqual({ f: 'later' });
  });

  it('delete is observed-remove: a concurrent update to the deleted field survives (add-wins)', () => {
    let base = ORMap.empty;
    base = apply(base, base.mutate({ set: [['r', 1]], increment: [['c', 5]], add: [['s', ['x']]] }, { actor: EU, hlc: 1n }));
    const deletion = base.delete(['r', 'c', 's']);
    const update = base.mutate({ set: [['r', 2]], increment: [['c', 1]], add: [['s', ['y']]] }, { actor: US, hlc: 2n });
    const merged = apply(apply(base, deletion), update);
    expect(merged.equals(apply(apply(base, update), deletion))).toBe(true);
    // The register and set keep only the concurrent write; us's counter entry is its own +1.
    expect(merged.value()).toEqual({ c: 1, r: 2, s: ['y'] });
    // A delete that saw everything removes the field, leaving only the context behind.
    const gone = apply(merged, merged.delete(['r', 'c', 's']));
    expect(gone.value()).toEqual({});
    expect(gone.toJSON().fields).toEqual([]);
    expect(gone.isBottom()).toBe(false);
  });

  it('counter under a concurrent delete: the incrementing actor’s running total survives with its increment (documented)', () => {
    let base = ORMap.empty;
    base = apply(base, base.increment(EU, 'likes', 5));
    const deletion = base.delete(['likes']);
    const increment = base.increment(EU, 'likes', 1); // eu's entry becomes 6 under a fresh dot
    expect(apply(apply(base, deletion), increment).value()).toEqual({ likes: 6 });
    // An increment that saw the delete starts from zero.
    const afterDelete = apply(base, deletion);
    expect(apply(afterDelete, afterDelete.increment(EU, 'likes', 1)).value()).toEqual({ likes: 1 });
  });

  it('refuses an operation that treats a field as another type, and changes nothing', () => {
    let m = ORMap.empty;
    m = apply(m, m.set(EU, 1n, 'f', 'text'));
    expect(codeOf(() => m.increment(EU, 'f', 1))).toBe(CrdtErrorCode.FieldTypeClash);
    expect(codeOf(() => m.add(EU, 'f', ['x']))).toBe(CrdtErrorCode.FieldTypeClash);
    expect(codeOf(() => m.remove('f', ['x']))).toBe(CrdtErrorCode.FieldTypeClash);
    expect(() => m.increment(EU, 'f', 1)).toThrow(/field "f" holds a register, so it cannot be used as a counter/);
    // Several fields in one operation: the clash in the second refuses the whole operation.
    expect(codeOf(() => m.mutate({ set: [['g', 1]], increment: [['f', 1]] }, { actor: EU, hlc: 2n }))).toBe(CrdtErrorCode.FieldTypeClash);
    expect(m.value()).toEqual({ f: 'text' });
  });

  it('a field created with two types concurrently keeps both; register > counter > set shows; the next write resolves it', () => {
    const asRegister = ORMap.empty.set(EU, 1n, 'f', 'text');
    const asCounter = ORMap.empty.increment(US, 'f', 3);
    const asSet = ORMap.empty.add('ap.1', 'f', ['x']);
    const merged = asSet.join(asCounter).join(asRegister);
    expect(merged.value()).toEqual({ f: 'text' });
    expect(merged.clashes()).toEqual([{ field: 'f', types: ['register', 'counter', 'set'] }]);
    expect(asCounter.join(asSet).value()).toEqual({ f: 3 });
    const resolved = apply(merged, merged.set(EU, 2n, 'f', 'final'));
    expect(resolved.clashes()).toEqual([]);
    expect(resolved.value()).toEqual({ f: 'final' });
  });

  it('a register write needs an HLC, and a write needs an actor', () => {
    expect(codeOf(() => ORMap.empty.mutate({ set: [['f', 1]] }, { actor: EU }))).toBe(CrdtErrorCode.MissingApplyContext);
    expect(codeOf(() => ORMap.empty.mutate({ increment: [['f', 1]] }, {}))).toBe(CrdtErrorCode.MissingApplyContext);
    expect(codeOf(() => ORMap.empty.increment(EU, 'f', 0))).toBe(CrdtErrorCode.InvalidValue);
    expect(codeOf(() => ORMap.empty.increment(EU, 'f', 1.5))).toBe(CrdtErrorCode.InvalidValue);
    expect(codeOf(() => ORMap.empty.increment('EU', 'f', 1))).toBe(CrdtErrorCode.InvalidValue);
    expect(codeOf(() => ORMap.empty.set(EU, 1n << 64n, 'f', 1))).toBe(CrdtErrorCode.InvalidValue);
    expect(codeOf(() => ORMap.empty.set(EU, -1n, 'f', 1))).toBe(CrdtErrorCode.InvalidValue);
  });

  it('refuses a field named twice in one operation, or by a string that cannot be encoded', () => {
    expect(codeOf(() => ORMap.empty.mutate({ set: [['f', 1]], delete: ['f'] }, { actor: EU, hlc: 1n }))).toBe(CrdtErrorCode.InvalidValue);
    expect(codeOf(() => ORMap.empty.mutate({ add: [['f', [1]], ['f', [2]]] }, { actor: EU }))).toBe(CrdtErrorCode.InvalidValue);
    expect(codeOf(() => ORMap.empty.set(EU, 1n, '\ud800', 1))).toBe(CrdtErrorCode.InvalidValue);
  });

  it('refuses a counter entry that would leave the safe integer range', () => {
    let m = ORMap.empty;
    m = apply(m, m.increment(EU, 'c', Number.MAX_SAFE_INTEGER));
    expect(codeOf(() => m.increment(EU, 'c', 1))).toBe(CrdtErrorCode.CounterOverflow);
    // Two actors together may exceed 2^53: the value stays exact, as a decimal string in JSON.
    m = apply(m, m.increment(US, 'c', Number.MAX_SAFE_INTEGER));
    expect(m.get('c')?.value).toBe(2n * BigInt(Number.MAX_SAFE_INTEGER));
    expect(m.value()).toEqual({ c: '18014398509481982' });
  });

  it('field names are data, never object keys of the implementation (no prototype pollution)', () => {
    let m = ORMap.empty;
    m = apply(m, m.set(EU, 1n, '__proto__', { polluted: true }));
    m = apply(m, m.increment(EU, 'constructor', 1));
    const value = m.value();
    expect(Object.keys(value)).toEqual(['__proto__', 'constructor']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(ORMap.decode(m.encode()).equals(m)).toBe(true);
  });

  it('a delete with the client’s observed context spares writes the client did not see', () => {
    let m = ORMap.empty;
    m = apply(m, m.set(EU, 1n, 'f', 'seen'));
    const observed = m.context;
    m = apply(m, m.set(US, 2n, 'f', 'unseen'));
    m = apply(m, m.delete(['f'], observed));
    expect(m.value()).toEqual({ f: 'unseen' });
  });

  it('decoding refuses an empty field, unsorted fields and dots outside the context', () => {
    const m = apply(ORMap.empty, ORMap.empty.mutate({ set: [['a', 1]], increment: [['b', 2]] }, { actor: EU, hlc: 1n }));
    const json = m.toJSON();
    const [a, b] = json.fields;
    expect(() => ORMap.fromJSON({ ...json, fields: [{ name: 'e', registers: [], counters: [], elements: [] }] })).toThrow(/is empty/);
    expect(() => ORMap.fromJSON({ ...json, fields: [a, a] })).toThrow(/appears twice/);
    expect(() => ORMap.fromJSON({ ...json, context: { vv: { [EU]: 1 }, cloud: [] } })).toThrow(/outside the causal context/);
    expect(() => ORMap.fromJSON({ ...json, fields: [{ ...b, counters: [{ dot: [EU, 2], total: 1.5 }] }] })).toThrow(/safe integer/);
    expect(ORMap.fromJSON({ ...json, fields: [b, a] }).equals(m)).toBe(true); // JSON order is normalised
  });
});
