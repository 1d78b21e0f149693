/**
 * The idempotency records replicated updates carry (issue 18.4): the answer a region stores for a
 * retry must claim every position the first answer reflected, not the write's own position only.
 */
import { describe, expect, it } from 'vitest';
import { SCHEMA_VERSION, type UpdateRecord } from '@meridian/protocol';
import { replicatedAnswers } from './batch-applier.ts';

function update(bodyJson: string): UpdateRecord {
  return {
    kind: 'update',
    schemaVersion: SCHEMA_VERSION,
    origin: { region: 'eu', epoch: 1 },
    originSequence: 3n,
    outboxId: 7n,
    namespace: 'tags',
    key: 'k',
    policy: 'set',
    hlc: 1n,
    traceparent: '',
    payload: { kind: 'crdt', delta: new Uint8Array() },
    idempotentAnswer: { idempotencyKey: 'order-1', fingerprint: 'f', status: 200, bodyJson },
  };
}

describe('replicatedAnswers', () => {
  it('keeps the other origins\' positions the first answer reflected and adds the write\'s own position', () => {
    // eu's answer showed a set holding us.1's add (eu had applied us.1 up to 42): a region that
    // replays it must not answer a token that a region without us.1:42 could satisfy.
    const [answer] = replicatedAnswers([{ updates: [update(JSON.stringify({ value: ['from us', 'from eu'], context: 'c', session: 'us.1:42' }))] }]);
    expect(answer).toMatchObject({ namespace: 'tags', key: 'k', idempotencyKey: 'order-1', status: 200 });
    expect(answer!.response).toEqual({ value: ['from us', 'from eu'], context: 'c', session: 'eu.1:7;us.1:42' });
  });

  it('an answer without a session (an older origin), or with one that is not a token, gets the write\'s own position', () => {
    for (const body of [{ value: 1, context: 'c' }, { value: 1, context: 'c', session: 'not a token' }]) {
      expect(replicatedAnswers([{ updates: [update(JSON.stringify(body))] }])[0]!.response).toEqual({ value: 1, context: 'c', session: 'eu.1:7' });
    }
  });
});
