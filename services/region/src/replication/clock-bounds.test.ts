/**
 * A peer's HLC beyond the drift bound is applied (its version keeps it: the data is committed
 * elsewhere) but never becomes the key's highest HLC, the floor of every later local write's HLC:
 * otherwise one fast clock would make every later write of the key, here, win its conflicts.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DvvSet, HybridLogicalClock, hlc } from '@meridian/causality';
import type { UpdateRecord } from '@meridian/protocol';
import { decodeRegisterSet, encodeRegisterSet, type RegisterVersion } from '@meridian/crdt';
import { foldKey } from './key-fold.ts';

const NOW = 1_750_000_000_000;
const DRIFT = 60_000;

function lwwUpdate(sequence: number, at: bigint, value: string): UpdateRecord {
  const set = DvvSet.empty<RegisterVersion>().update(undefined, 'us.1', { value, hlc: at, traceparent: undefined }).set;
  return { kind: 'update', schemaVersion: 1, origin: { region: 'us', epoch: 1 }, originSequence: BigInt(sequence), outboxId: BigInt(sequence), namespace: 'ns', key: 'k', hlc: at, policy: 'lww', traceparent: '', payload: { kind: 'register', state: encodeRegisterSet(set) } };
}

describe('clock bounds in the fold', () => {
  const clock = new HybridLogicalClock({ now: () => NOW, maxDriftMs: DRIFT });
  const ceiling = clock.bound();

  it('applies a far-future version but keeps the key\'s highest HLC within the drift bound', () => {
    const future = hlc(NOW + 365 * 24 * 3600 * 1000, 0);
    const fold = foldKey({ namespace: 'ns', key: 'k' }, 'lww', { state: undefined, maxHlc: 0n }, [lwwUpdate(1, future, 'from the future')], 0, ceiling);
    expect(fold.save).toBeDefined();
    expect(fold.save!.maxHlc).toBe(hlc(NOW + DRIFT, 0xffff));
    // The version itself keeps its HLC: it is the peer's data, applied as it was committed.
    expect(decodeRegisterSet(fold.save!.state).versions().map((v) => v.value.hlc)).toEqual([future]);
  });

  it('an HLC beyond a PostgreSQL bigint still leaves a max_hlc that fits one', () => {
    const fold = foldKey({ namespace: 'ns', key: 'k' }, 'lww', { state: undefined, maxHlc: 0n }, [lwwUpdate(1, (1n << 64n) - 1n, 'x')], 0, ceiling);
    expect(fold.save!.maxHlc <= (1n << 63n) - 1n).toBe(true);
  });

  it('the key\'s highest HLC is max(stored, min(incoming, bound)): never lowered, never past the bound', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.array(fc.bigInt({ min: 1n, max: (1n << 64n) - 1n }), { minLength: 1, maxLength: 6 }), (stored, incoming) => {
        const updates = incoming.map((h, i) => lwwUpdate(i + 1, h, `v${i}`));
        const fold = foldKey({ namespace: 'ns', key: 'k' }, 'lww', { state: undefined, maxHlc: stored }, updates, 0, ceiling);
        const max = fold.save!.maxHlc;
        expect(max >= stored).toBe(true);
        const bounded = incoming.map((h) => (h > ceiling ? ceiling : h));
        expect(max <= (stored > ceiling ? stored : ceiling)).toBe(true);
        // Within the bound, the highest incoming HLC that changed the state is adopted.
        if (incoming.every((h) => h <= ceiling) && stored <= ceiling) expect(max <= bounded.reduce((a, b) => (a > b ? a : b), stored)).toBe(true);
      }),
    );
  });
});
