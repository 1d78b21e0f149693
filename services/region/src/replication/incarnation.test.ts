import { describe, expect, it } from 'vitest';
import type { OwnStream } from '@meridian/store';
import { earlierOwnPosition, incarnationVerdict } from './incarnation.ts';

const db = (fields: Partial<OwnStream> = {}): OwnStream => ({ epoch: 1, lastSequence: 10n, lastOutboxId: 40n, unpublished: 0n, maxOutboxId: 40n, ...fields });

describe('whether a database is behind its own stream', () => {
  it('is not when the topic and the peers hold no more than it can publish', () => {
    expect(incarnationVerdict('eu', db(), [])).toEqual({ behind: false });
    expect(incarnationVerdict('eu', db(), [{ source: 'topic', epoch: 1, sequence: 10n, outboxId: 40n }, { source: 'us', epoch: 1, sequence: 8n }])).toEqual({ behind: false });
  });

  it('is not after a relay published and crashed before marking: those rows go out again under the same sequences', () => {
    expect(incarnationVerdict('eu', db({ unpublished: 3n, maxOutboxId: 43n }), [{ source: 'topic', epoch: 1, sequence: 13n, outboxId: 43n }, { source: 'us', epoch: 1, sequence: 13n }])).toEqual({ behind: false });
  });

  it('is after a restore: sequences or outbox ids beyond what it can publish, from the topic or a peer', () => {
    const topic = incarnationVerdict('eu', db(), [{ source: 'topic', epoch: 1, sequence: 12n, outboxId: 45n }]);
    expect(topic).toMatchObject({ behind: true, epoch: 2 });
    expect(topic.behind && topic.reasons.join('; ')).toMatch(/up to sequence 12.*outbox id 45/);
    expect(incarnationVerdict('eu', db(), [{ source: 'us', epoch: 1, sequence: 11n }])).toMatchObject({ behind: true, epoch: 2 });
    // Within what it can publish only if the ids are ones it allocated.
    expect(incarnationVerdict('eu', db({ unpublished: 2n, maxOutboxId: 42n }), [{ source: 'topic', epoch: 1, sequence: 12n, outboxId: 41n }])).toEqual({ behind: false });
    expect(incarnationVerdict('eu', db({ unpublished: 2n, maxOutboxId: 42n }), [{ source: 'topic', epoch: 1, sequence: 12n, outboxId: 47n }])).toMatchObject({ behind: true });
  });

  it('is when a later incarnation exists anywhere; the new epoch is above every epoch seen', () => {
    expect(incarnationVerdict('eu', db(), [{ source: 'us', epoch: 4, sequence: 2n }, { source: 'topic', epoch: 3, sequence: 9n }])).toMatchObject({ behind: true, epoch: 5 });
    // Earlier incarnations say nothing about this one.
    expect(incarnationVerdict('eu', db({ epoch: 7 }), [{ source: 'us', epoch: 2, sequence: 900n }])).toEqual({ behind: false });
  });
});

describe('sessions naming an earlier actor of this region', () => {
  const switches = [{ epoch: 2, outboxId: 40n }, { epoch: 5, outboxId: 90n }];
  it('are held up to where the next incarnation began', () => {
    expect(earlierOwnPosition('eu', 5, switches, 'eu.1')).toBe(40n);
    expect(earlierOwnPosition('eu', 5, switches, 'eu.3')).toBe(90n);
  });
  it('say nothing of the current or a later actor, another region, or an unrecorded switch', () => {
    expect(earlierOwnPosition('eu', 5, switches, 'eu.5')).toBeUndefined();
    expect(earlierOwnPosition('eu', 5, switches, 'eu.6')).toBeUndefined();
    expect(earlierOwnPosition('eu', 5, switches, 'us.1')).toBeUndefined();
    expect(earlierOwnPosition('eu', 5, [], 'eu.1')).toBeUndefined();
  });
});
