/**
 * Merging a replicated register state into the stored one: one conflict id in every region,
 * siblings kept (mv) or one winner everywhere (lww) with the loser never resurrected, causal
 * successors replacing without a conflict, and any delivery order converging. The join laws and
 * convergence against the reference models run in crdt-laws.test.ts and convergence.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { DvvSet, dotKey } from '@meridian/causality';
import { conflictId, mergeRegister } from './register-merge.ts';
import type { RegisterSet, RegisterVersion } from './register-state.ts';

const v = (value: string, hlc: bigint): RegisterVersion => ({ value, hlc, traceparent: undefined });

function write(set: RegisterSet, actor: string, value: string, hlc: bigint, withContext = true): RegisterSet {
  return set.update(withContext ? set.context() : undefined, actor, v(value, hlc)).set;
}

describe('register merge', () => {
  it('mv: concurrent writes in two regions are a conflict with one id everywhere; both stay siblings', () => {
    const eu = write(DvvSet.empty(), 'eu.1', 'a', 100n);
    const us = write(DvvSet.empty(), 'us.1', 'b', 200n);
    const atEu = mergeRegister('ns', 'k', eu, us, 'mv');
    const atUs = mergeRegister('ns', 'k', us, eu, 'mv');
    expect(atEu.conflict?.id).toBeDefined();
    expect(atEu.conflict?.id).toBe(atUs.conflict?.id);
    expect(atEu.next.values().map((x) => x.value).sort()).toEqual(['a', 'b']);
    // A third region that had eu's version observes the same conflict when us's arrives.
    const atAp = mergeRegister('ns', 'k', mergeRegister('ns', 'k', DvvSet.empty(), eu, 'mv').next, us, 'mv');
    expect(atAp.conflict?.id).toBe(atEu.conflict?.id);
  });

  it('lww: the highest HLC wins in every region and the loser never comes back', () => {
    const eu = write(DvvSet.empty(), 'eu.1', 'a', 100n);
    const us = write(DvvSet.empty(), 'us.1', 'b', 200n);
    const atEu = mergeRegister('ns', 'k', eu, us, 'lww');
    const atUs = mergeRegister('ns', 'k', us, eu, 'lww');
    expect(atEu.next.values().map((x) => x.value)).toEqual(['b']);
    expect(atUs.next.values().map((x) => x.value)).toEqual(['b']);
    expect(atEu.conflict?.outcome).toMatchObject({ kind: 'lww' });
    expect(atUs.conflict).toBeDefined();
    // Replaying eu's old state (a late duplicate) does not resurrect 'a'.
    const replay = mergeRegister('ns', 'k', atUs.next, eu, 'lww');
    expect(replay.changed).toBe(false);
    expect(replay.conflict).toBeUndefined();
    expect(replay.next.values().map((x) => x.value)).toEqual(['b']);
  });

  it('a causally later state replaces without a conflict; a dominated one is dropped', () => {
    const first = write(DvvSet.empty(), 'eu.1', 'a', 100n);
    const later = write(first, 'us.1', 'b', 200n); // us had seen a
    const forward = mergeRegister('ns', 'k', first, later, 'mv');
    expect(forward.conflict).toBeUndefined();
    expect(forward.changed).toBe(true);
    expect(forward.next.values().map((x) => x.value)).toEqual(['b']);
    const backward = mergeRegister('ns', 'k', later, first, 'mv');
    expect(backward.changed).toBe(false);
    expect(backward.conflict).toBeUndefined();
  });

  it('the conflict id depends on the key and the dots, not on their order', () => {
    const eu = write(DvvSet.empty(), 'eu.1', 'a', 1n).versions();
    const us = write(DvvSet.empty(), 'us.1', 'b', 2n).versions();
    expect(conflictId('ns', 'k', [...eu, ...us])).toBe(conflictId('ns', 'k', [...us, ...eu]));
    expect(conflictId('ns', 'k', eu)).not.toBe(conflictId('ns', 'k', [...eu, ...us]));
    // Dots are minted per key: the same dots on another key are another conflict (regression).
    expect(conflictId('ns', 'other', [...eu, ...us])).not.toBe(conflictId('ns', 'k', [...eu, ...us]));
    expect(conflictId('ns2', 'k', [...eu, ...us])).not.toBe(conflictId('ns', 'k', [...eu, ...us]));
    expect(dotKey(eu[0]!.dot)).toBe('eu.1:1');
  });

  it('merging is order-independent: any delivery order of three regions\' states converges', () => {
    const states = [write(DvvSet.empty(), 'eu.1', 'a', 1n), write(DvvSet.empty(), 'us.1', 'b', 2n), write(DvvSet.empty(), 'ap.1', 'c', 3n)];
    for (const policy of ['mv', 'lww'] as const) {
      const results = new Set<string>();
      for (const order of [[0, 1, 2], [2, 1, 0], [1, 0, 2], [1, 2, 0, 1]]) {
        let s: RegisterSet = DvvSet.empty();
        for (const i of order) s = mergeRegister('ns', 'k', s, states[i]!, policy).next;
        results.add(JSON.stringify(s.toJSON((x) => x.value)));
      }
      expect(results.size).toBe(1);
    }
  });
});
