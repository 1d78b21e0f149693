/**
 * Digests: equal states built in different join orders have equal digests, a one-element difference
 * changes them, and the namespace combination is order-independent and incremental.
 */
import { describe, expect, it } from 'vitest';
import { setKind } from './crdt-kind.ts';
import { ORSet } from './or-set.ts';
import { DigestAccumulator, combineDigests, digest } from './state-digest.ts';

const EU = 'eu.1';
const US = 'us.1';

function deltas(): ORSet[] {
  let eu = ORSet.empty;
  let us = ORSet.empty;
  const out: ORSet[] = [];
  for (const [actor, element] of [[EU, 'a'], [US, 'b'], [EU, 'c'], [US, 'a']] as const) {
    const source = actor === EU ? eu : us;
    const delta = source.add(actor, [element]);
    out.push(delta);
    if (actor === EU) eu = eu.join(delta);
    else us = us.join(delta);
  }
  out.push(eu.remove(['c']));
  return out;
}

describe('digests', () => {
  it('equal states built by joins in different orders have equal digests', () => {
    const ds = deltas();
    const forward = ds.reduce((s, d) => s.join(d), ORSet.empty);
    const backward = [...ds].reverse().reduce((s, d) => s.join(d), ORSet.empty);
    const twice = [...ds, ...ds].reduce((s, d) => d.join(s), ORSet.empty);
    expect(setKind.digest(backward)).toBe(setKind.digest(forward));
    expect(setKind.digest(twice)).toBe(setKind.digest(forward));
    expect(digest(forward.encode())).toMatch(/^[0-9a-f]{64}$/);
  });

  it('a one-element difference changes the key digest and the namespace digest', () => {
    const ds = deltas();
    const full = ds.reduce((s, d) => s.join(d), ORSet.empty);
    const extra = full.join(full.add(EU, ['d']));
    expect(setKind.digest(extra)).not.toBe(setKind.digest(full));
    const other = setKind.digest(ORSet.empty.add(US, ['z']));
    const before = combineDigests([['k1', setKind.digest(full)], ['k2', other]]);
    const after = combineDigests([['k1', setKind.digest(extra)], ['k2', other]]);
    expect(after).not.toBe(before);
  });

  it('combines keys independently of order, and tells keys apart', () => {
    const d1 = digest(Uint8Array.of(1));
    const d2 = digest(Uint8Array.of(2));
    expect(combineDigests([['a', d1], ['b', d2]])).toBe(combineDigests([['b', d2], ['a', d1]]));
    expect(combineDigests([['a', d1], ['b', d2]])).not.toBe(combineDigests([['a', d2], ['b', d1]]));
    expect(combineDigests([['a', d1], ['b', d1]])).not.toBe(combineDigests([])); // equal entries do not cancel
    expect(combineDigests([])).toBe('0'.repeat(64));
  });

  it('the accumulator follows changes incrementally', () => {
    const d1 = digest(Uint8Array.of(1));
    const d2 = digest(Uint8Array.of(2));
    const d3 = digest(Uint8Array.of(3));
    const acc = new DigestAccumulator().add('a', d1).add('b', d2);
    acc.replace('a', d1, d3);
    expect(acc.digest()).toBe(combineDigests([['b', d2], ['a', d3]]));
    acc.remove('a', d3).remove('b', d2);
    expect(acc.digest()).toBe('0'.repeat(64));
    expect(acc.size).toBe(0);
    expect(() => acc.add('a', 'XYZ')).toThrow(/64 lower-case hex/);
  });
});
