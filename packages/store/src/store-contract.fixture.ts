/**
 * What every `Store` does, as one suite run against each implementation: `PgStore`
 * (store-contract.pg.test.ts) and `MemoryStore` (memory-store.test.ts). A behaviour the write or
 * apply path relies on belongs here, so the in-memory store the paths' unit tests use cannot
 * drift from PostgreSQL. Each test works in namespaces of its own, so one store serves the suite.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Store } from './store.ts';
import type { ConditionalWrite, KeyRow } from './rows.ts';

const bytes = (...b: number[]): Uint8Array => new Uint8Array(b);
let unique = 0;
const fresh = (what: string): string => `${what}${++unique}_${Math.random().toString(36).slice(2, 8)}`;

function write(namespace: string, key: string, expected: KeyRow | undefined, state: Uint8Array, maxHlc: bigint): ConditionalWrite {
  return { namespace, policy: 'lww', key, expected, state, maxHlc, messageKey: `${namespace}/${key}`, envelope: bytes(9, 9) };
}

export function storeContract(name: string, open: () => Promise<Store>): void {
  describe(`${name}: the Store contract`, () => {
    let store: Store;
    beforeAll(async () => {
      store = await open();
    });

    async function namespace(policy: 'lww' | 'counter' = 'lww'): Promise<string> {
      const ns = fresh('ns');
      await store.transaction((tx) => tx.declareNamespace(ns, policy, 'eu.1', 1n));
      return ns;
    }

    it('a namespace is declared once: a second declaration answers the stored row', async () => {
      const ns = fresh('ns');
      const first = await store.transaction((tx) => tx.declareNamespace(ns, 'lww', 'eu.1', 5n));
      const second = await store.transaction((tx) => tx.declareNamespace(ns, 'counter', 'us.1', 7n));
      expect(first.created).toBe(true);
      expect(second).toMatchObject({ created: false, row: { name: ns, policy: 'lww', declaredBy: 'eu.1', declaredHlc: 5n } });
      expect(await store.transaction((tx) => tx.getNamespace(ns))).toMatchObject({ policy: 'lww' });
    });

    it('compareAndWrite inserts a missing key once; the second insert stores nothing and answers the row', async () => {
      const ns = await namespace();
      const saved = await store.compareAndWrite(write(ns, 'k', undefined, bytes(1), 10n));
      expect(saved).toMatchObject({ saved: true });
      const lost = await store.compareAndWrite(write(ns, 'k', undefined, bytes(2), 11n));
      expect(lost).toEqual({ saved: false, snapshot: { namespace: expect.objectContaining({ name: ns, policy: 'lww' }), key: { namespace: ns, key: 'k', state: bytes(1), maxHlc: 10n } } });
      expect((await store.writeSnapshot(ns, 'k')).key).toEqual({ namespace: ns, key: 'k', state: bytes(1), maxHlc: 10n });
    });

    it('compareAndWrite stores only over the exact snapshot and the planned policy; outbox ids increase', async () => {
      const ns = await namespace();
      const first = await store.compareAndWrite(write(ns, 'k', undefined, bytes(1), 10n));
      const row = (await store.writeSnapshot(ns, 'k')).key!;
      const stale = await store.compareAndWrite(write(ns, 'k', { ...row, maxHlc: 9n }, bytes(3), 12n));
      expect(stale).toMatchObject({ saved: false, snapshot: { key: { state: bytes(1), maxHlc: 10n } } });
      const otherPolicy = await store.compareAndWrite({ ...write(ns, 'k', row, bytes(3), 12n), policy: 'mv' });
      expect(otherPolicy.saved).toBe(false);
      const second = await store.compareAndWrite(write(ns, 'k', row, bytes(3), 12n));
      expect(second.saved).toBe(true);
      if (!first.saved || !second.saved) throw new Error('unreachable');
      expect(second.outboxId).toBeGreaterThan(first.outboxId);
      const view = await store.readView(ns, 'k');
      expect(view.key).toEqual({ namespace: ns, key: 'k', state: bytes(3), maxHlc: 12n });
      expect(view.highWater).toBeGreaterThanOrEqual(second.outboxId);
    });

    it('compareAndWrite in a namespace that does not exist stores nothing and answers an empty snapshot', async () => {
      const ns = fresh('missing');
      expect(await store.compareAndWrite(write(ns, 'k', undefined, bytes(1), 1n))).toEqual({ saved: false, snapshot: { namespace: undefined, key: undefined } });
      expect(await store.readView(ns, 'k')).toEqual({ namespace: undefined, key: undefined, highWater: 0n, applied: new Map(), held: [] });
    });

    it('compareAndWriteMany saves the writes whose rows are unchanged and answers the others with their snapshots, in order', async () => {
      const ns = await namespace();
      for (const k of ['a', 'b', 'c']) await store.compareAndWrite(write(ns, k, undefined, bytes(1), 1n));
      const [a, b, c] = await Promise.all(['a', 'b', 'c'].map(async (k) => (await store.writeSnapshot(ns, k)).key!));
      const results = await store.compareAndWriteMany([write(ns, 'a', a, bytes(2), 2n), write(ns, 'b', { ...b!, state: bytes(7) }, bytes(2), 2n), write(ns, 'c', c, bytes(2), 2n)]);
      expect(results.map((r) => r.saved)).toEqual([true, false, true]);
      expect(results[1]).toMatchObject({ saved: false, snapshot: { key: { state: bytes(1), maxHlc: 1n } } });
      expect((await store.writeSnapshot(ns, 'b')).key?.state).toEqual(bytes(1));
      expect((await store.writeSnapshot(ns, 'c')).key?.state).toEqual(bytes(2));
    });

    it('compareAndWriteMany refuses a write without an expected row, and a key twice', async () => {
      const ns = await namespace();
      await expect(store.compareAndWriteMany([write(ns, 'new', undefined, bytes(1), 1n)])).rejects.toMatchObject({ code: 'MERIDIAN_STORE_FAILED' });
      await store.compareAndWrite(write(ns, 'k', undefined, bytes(1), 1n));
      const row = (await store.writeSnapshot(ns, 'k')).key!;
      await expect(store.compareAndWriteMany([write(ns, 'k', row, bytes(2), 2n), write(ns, 'k', row, bytes(3), 3n)])).rejects.toMatchObject({ code: 'MERIDIAN_STORE_FAILED' });
      expect((await store.writeSnapshot(ns, 'k')).key?.state).toEqual(bytes(1));
    });

    it('a transaction that throws stores nothing of what it did, and its error comes out unchanged', async () => {
      const ns = await namespace();
      const boom = new Error('boom');
      await expect(
        store.transaction(async (tx) => {
          await tx.lockKey(ns, 'k');
          await tx.saveKey(ns, 'k', bytes(5), 5n);
          await tx.appendOutbox(`${ns}/k`, bytes(1));
          await tx.declareNamespace(`${ns}x`, 'lww', 'eu.1', 1n);
          throw boom;
        }),
      ).rejects.toBe(boom);
      expect((await store.writeSnapshot(ns, 'k')).key).toBeUndefined();
      expect((await store.writeSnapshot(`${ns}x`, 'k')).namespace).toBeUndefined();
    });

    it('lockKey inserts an empty row (state undefined); deleteEmptyKey removes only an empty row', async () => {
      const ns = await namespace();
      const locked = await store.transaction(async (tx) => {
        const row = await tx.lockKey(ns, 'empty');
        await tx.deleteEmptyKey(ns, 'empty');
        await tx.lockKey(ns, 'kept');
        await tx.saveKey(ns, 'kept', bytes(4), 4n);
        await tx.deleteEmptyKey(ns, 'kept');
        return row;
      });
      expect(locked).toEqual({ namespace: ns, key: 'empty', state: undefined, maxHlc: 0n });
      expect((await store.writeSnapshot(ns, 'empty')).key).toBeUndefined();
      expect((await store.writeSnapshot(ns, 'kept')).key).toEqual({ namespace: ns, key: 'kept', state: bytes(4), maxHlc: 4n });
    });

    it('an appended outbox row raises the high-water', async () => {
      const ns = await namespace();
      const { id, highWater } = await store.transaction(async (tx) => {
        await tx.lockKey(ns, 'k');
        await tx.saveKey(ns, 'k', bytes(1), 1n);
        const id = await tx.appendOutbox(`${ns}/k`, bytes(1));
        return { id, highWater: await tx.outboxHighWater() };
      });
      expect(highWater).toBe(id);
      expect((await store.readView(ns, 'k')).highWater).toBeGreaterThanOrEqual(id);
    });

    it('an Idempotency-Key is claimed once per data key; the recorded answer comes back; a replicated answer never replaces one held', async () => {
      const ns = await namespace();
      const scope = { namespace: ns, key: 'k' };
      expect(await store.transaction((tx) => tx.claimIdempotencyKey(scope, 'idem', 'f1'))).toEqual({ claimed: true });
      await store.transaction((tx) => tx.recordIdempotentAnswer(scope, 'idem', 200, { value: 1 }));
      expect(await store.transaction((tx) => tx.claimIdempotencyKey(scope, 'idem', 'f2'))).toEqual({ claimed: false, fingerprint: 'f1', status: 200, response: { value: 1 } });
      expect(await store.transaction((tx) => tx.claimIdempotencyKey({ namespace: ns, key: 'other' }, 'idem', 'f3'))).toEqual({ claimed: true });
      await store.transaction((tx) =>
        tx.storeReplicatedAnswers([
          { ...scope, idempotencyKey: 'idem', fingerprint: 'peer', status: 200, response: { value: 2 } },
          { ...scope, idempotencyKey: 'fromPeer', fingerprint: 'peer', status: 200, response: { value: 3 } },
          // A value may hold \u0000 (valid JSON; jsonb would refuse it and fail the whole apply).
          { ...scope, idempotencyKey: 'nul', fingerprint: 'peer', status: 200, response: { value: 'a\u0000b' } },
        ]),
      );
      expect(await store.transaction((tx) => tx.claimIdempotencyKey(scope, 'nul', 'f6'))).toEqual({ claimed: false, fingerprint: 'peer', status: 200, response: { value: 'a\u0000b' } });
      expect(await store.transaction((tx) => tx.claimIdempotencyKey(scope, 'idem', 'f4'))).toMatchObject({ fingerprint: 'f1', response: { value: 1 } });
      expect(await store.transaction((tx) => tx.claimIdempotencyKey(scope, 'fromPeer', 'f5'))).toEqual({ claimed: false, fingerprint: 'peer', status: 200, response: { value: 3 } });
    });

    it('offsets are saved only under the owner epoch of the latest claim', async () => {
      const peer = fresh('peer');
      const first = await store.claimPartitions(peer, [1, 0]);
      expect([...first]).toEqual([
        [0, { nextOffset: 0n, epoch: 1n, known: false }],
        [1, { nextOffset: 0n, epoch: 1n, known: false }],
      ]);
      await store.transaction(async (tx) => {
        expect(await tx.lockOffsets(peer, [{ partition: 0, epoch: 1n }, { partition: 7, epoch: 1n }])).toEqual(new Map<number, unknown>([[0, { nextOffset: 0n }], [7, 'fenced']]));
        await tx.saveOffsets(peer, [{ partition: 0, nextOffset: 42n }]);
      });
      const second = await store.claimPartitions(peer, [0]);
      expect(second.get(0)).toEqual({ nextOffset: 42n, epoch: 2n, known: true });
      expect(await store.transaction((tx) => tx.lockOffsets(peer, [{ partition: 0, epoch: 1n }]))).toEqual(new Map([[0, 'fenced']]));
    });

    it('applied rows are made empty on first lock and are the applied positions once saved', async () => {
      const origin = fresh('us') + '.1';
      const locked = await store.transaction((tx) => tx.lockApplied([{ origin, region: 'us' }]));
      expect(locked.get(origin)).toEqual({ origin, region: 'us', contiguous: 0n, contiguousOutboxId: 0n, beyond: [] });
      await store.transaction((tx) => tx.saveApplied([{ origin, region: 'us', contiguous: 3n, contiguousOutboxId: 30n, beyond: [[5n, 50n]] }]));
      expect((await store.transaction((tx) => tx.lockApplied([{ origin, region: 'us' }]))).get(origin)).toEqual({ origin, region: 'us', contiguous: 3n, contiguousOutboxId: 30n, beyond: [[5n, 50n]] });
      expect((await store.transaction((tx) => tx.appliedPositions())).get(origin)).toBe(30n);
      const ns = await namespace();
      expect((await store.readView(ns, 'k')).applied.get(origin)).toBe(30n);
    });

    it('lockKeys inserts missing rows and answers every key; saveKeys stores them; a namespace\'s keys can be taken', async () => {
      const ns = await namespace();
      await store.compareAndWrite(write(ns, 'old', undefined, bytes(1), 1n));
      const rows = await store.transaction(async (tx) => {
        const rows = await tx.lockKeys([{ namespace: ns, key: 'old' }, { namespace: ns, key: 'new' }]);
        await tx.saveKeys([{ namespace: ns, key: 'new', state: bytes(2), maxHlc: 2n }]);
        return rows;
      });
      expect(rows.get(JSON.stringify([ns, 'old']))).toEqual({ namespace: ns, key: 'old', state: bytes(1), maxHlc: 1n });
      expect(rows.get(JSON.stringify([ns, 'new']))).toEqual({ namespace: ns, key: 'new', state: undefined, maxHlc: 0n });
      expect(await store.transaction((tx) => tx.namespacesAmong([ns, fresh('none')]))).toEqual(new Map([[ns, expect.objectContaining({ name: ns, policy: 'lww' })]]));
      await store.transaction((tx) => tx.replaceNamespacePolicy(ns, 'mv', 'us.1', 9n));
      const taken = await store.transaction((tx) => tx.takeNamespaceKeys(ns));
      expect(taken.sort((a, b) => (a.key < b.key ? -1 : 1))).toEqual([
        { key: 'new', state: bytes(2) },
        { key: 'old', state: bytes(1) },
      ]);
      expect(await store.writeSnapshot(ns, 'old')).toEqual({ namespace: expect.objectContaining({ policy: 'mv', declaredBy: 'us.1', declaredHlc: 9n }), key: undefined });
    });

    it('a conflict is recorded once per id', async () => {
      const ns = await namespace();
      const id = fresh('conflict');
      const conflict = { id, namespace: ns, key: 'k', policy: 'lww', kind: 'concurrent-write', versions: [{ v: 1 }], outcome: { winner: 1 }, regions: ['eu', 'us'], traceIds: ['t'], skewFlagged: false };
      expect(await store.transaction((tx) => tx.recordConflicts([conflict, conflict]))).toEqual(new Set([id]));
      expect(await store.transaction((tx) => tx.recordConflicts([conflict]))).toEqual(new Set());
    });

    it('a quarantined key holds its dead letters back until they are redriven and the key released', async () => {
      const ns = await namespace();
      const peer = fresh('peer');
      const letter = { peer, partition: 0, offset: 5n, messageKey: `${ns}/k`, raw: bytes(1, 2), code: 'X', reason: 'bad', namespace: ns, key: 'k', origin: 'us.1', sequence: 7n };
      const { first, second } = await store.transaction(async (tx) => {
        const first = await tx.deadLetter(letter);
        await tx.quarantine(ns, 'k', first);
        const second = await tx.deadLetter({ ...letter, code: 'HELD', sequence: 8n });
        await tx.quarantine(ns, 'k', second);
        return { first, second };
      });
      expect(second).toBeGreaterThan(first);
      expect(await store.transaction((tx) => tx.quarantinedAmong([{ namespace: ns, key: 'k' }, { namespace: ns, key: 'free' }]))).toEqual(new Set([JSON.stringify([ns, 'k'])]));
      expect(await store.transaction((tx) => tx.quarantinedBy(ns, 'k'))).toBe(first);
      expect((await store.readView(ns, 'k')).held.map((h) => h.sequence).sort()).toEqual([7n, 8n]);
      expect((await store.transaction((tx) => tx.heldLetters(ns, 'k')))[0]).toEqual({ origin: 'us.1', peer, sequence: expect.any(BigInt) });
      expect(await store.transaction((tx) => tx.lockDeadLetter(first))).toEqual({ id: first, code: 'X', raw: bytes(1, 2), namespace: ns, key: 'k', redriven: false });
      expect(await store.transaction((tx) => tx.heldFor(ns, 'k', 'HELD'))).toEqual([{ id: second, raw: bytes(1, 2) }]);
      await store.transaction(async (tx) => {
        await tx.markDeadLetterRedriven(first);
        await tx.releaseQuarantine(ns, 'k');
      });
      expect(await store.transaction((tx) => tx.quarantinedBy(ns, 'k'))).toBeUndefined();
      expect((await store.readView(ns, 'k')).held).toEqual([]);
      expect(await store.transaction((tx) => tx.lockDeadLetter(first))).toMatchObject({ redriven: true });
      expect(await store.transaction((tx) => tx.heldLetters(ns, 'k'))).toEqual([]);
    });
  });
}
