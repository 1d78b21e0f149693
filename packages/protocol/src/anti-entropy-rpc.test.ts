/** The anti-entropy messages survive their wire encoding: 64-bit hashes whole, absent states absent, empty digests as undefined. */
import { describe, expect, it } from 'vitest';
import { ANTI_ENTROPY_SERVICE } from './anti-entropy-rpc.ts';

const roundTrip = <Req, Res>(m: { requestSerialize(v: Req): Buffer; requestDeserialize(b: Buffer): Req; responseSerialize(v: Res): Buffer; responseDeserialize(b: Buffer): Res }, req: Req, res: Res): void => {
  expect(m.requestDeserialize(m.requestSerialize(req))).toEqual(req);
  expect(m.responseDeserialize(m.responseSerialize(res))).toEqual(res);
};

describe('ANTI_ENTROPY_SERVICE', () => {
  it('round-trips every method', () => {
    const max = (1n << 64n) - 1n;
    roundTrip(ANTI_ENTROPY_SERVICE.summary, {}, { region: 'eu', namespaces: [{ name: 'n', policy: 'lww', hash: max, keys: 3 }], positions: [{ origin: 'us.1', outboxId: 42n }] });
    roundTrip(ANTI_ENTROPY_SERVICE.branches, { namespace: 'n' }, { nodes: [{ index: 1023, hash: 1n << 63n, keys: 1 }] });
    roundTrip(ANTI_ENTROPY_SERVICE.segments, { namespace: 'n', branches: [0, 5] }, { nodes: [{ index: (1 << 20) - 1, hash: 7n, keys: 2 }] });
    roundTrip(ANTI_ENTROPY_SERVICE.keyHashes, { namespace: 'n', segments: [9] }, { keys: [{ key: 'k', hash: max }] });
    roundTrip(ANTI_ENTROPY_SERVICE.fetchStates, { namespace: 'n', keys: ['a', 'b'] }, { states: [{ key: 'a', state: new Uint8Array([1, 2]), maxHlc: 5n }, { key: 'b', state: undefined, maxHlc: 0n }] });
    roundTrip(ANTI_ENTROPY_SERVICE.mergeStates, { namespace: 'n', policy: 'mv', fromRegion: 'us', states: [{ key: 'a', state: new Uint8Array(), maxHlc: 1n }] }, { repairs: [{ key: 'a', before: undefined, after: 'ff' }, { key: 'b', before: 'aa', after: 'bb' }] });
    expect(ANTI_ENTROPY_SERVICE.mergeStates.path).toBe('/meridian.antientropy.v1.AntiEntropyService/MergeStates');
  });

  it('a summary carries the region’s published position; one from a region that predates the field decodes without it', () => {
    const summary = { region: 'eu', namespaces: [], positions: [{ origin: 'eu.2', outboxId: 90n }], published: { origin: 'eu.2', sequence: 17n, outboxId: 88n } };
    roundTrip(ANTI_ENTROPY_SERVICE.summary, {}, summary);
    const { published: _published, ...older } = summary;
    const decoded = ANTI_ENTROPY_SERVICE.summary.responseDeserialize(ANTI_ENTROPY_SERVICE.summary.responseSerialize(older));
    expect(decoded).toEqual(older);
    expect(decoded.published).toBeUndefined();
  });
});
