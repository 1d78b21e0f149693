import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { claimableApplied, decideConsistency, FALLBACK_WAIT_MS, uncoveredSession, type ConsistencyInput, type OwnActors, type ConsistencyMode } from './session-consistency.ts';

const peers = new Map([
  ['us', 'http://us.example:8080/'],
  ['ap', 'http://ap.example:8080'],
]);
const base: ConsistencyInput = { missingOrigins: ['us.1'], behind: 'us.1:7', mode: 'wait', staleAllowed: true, startedAt: 1000, now: 1000, waitMs: 2000, peerUrls: peers, region: 'eu' };
const decide = (patch: Partial<ConsistencyInput>): ReturnType<typeof decideConsistency> => decideConsistency({ ...base, ...patch });

describe('decideConsistency', () => {
  it('proceeds when nothing is missing, whatever the mode and time', () => {
    for (const mode of ['wait', 'fallback', 'stale'] as const) expect(decide({ missingOrigins: [], mode, now: 99_999 })).toEqual({ kind: 'proceed' });
  });

  it('wait: polls until the bound, then answers not covered', () => {
    expect(decide({ now: 1000 })).toEqual({ kind: 'wait', retryInMs: 25 });
    expect(decide({ now: 2990 })).toEqual({ kind: 'wait', retryInMs: 10 });
    expect(decide({ now: 3000 })).toMatchObject({ kind: 'not-covered', behind: 'us.1:7', message: expect.stringContaining('within 2000 ms') });
  });

  it('fallback: waits at most FALLBACK_WAIT_MS, then redirects to the one region that originated what is missing', () => {
    expect(decide({ mode: 'fallback', now: 1000 + FALLBACK_WAIT_MS - 1 })).toEqual({ kind: 'wait', retryInMs: 1 });
    expect(decide({ mode: 'fallback', now: 1000 + FALLBACK_WAIT_MS })).toMatchObject({ kind: 'redirect', target: 'http://us.example:8080/', behind: 'us.1:7' });
    // Two incarnations of one region: still that region.
    expect(decide({ mode: 'fallback', missingOrigins: ['us.1', 'us.2'], now: 5000 })).toMatchObject({ kind: 'redirect', target: 'http://us.example:8080/' });
    // Two regions, an unknown one, or none known: no single region has it all.
    for (const missingOrigins of [['us.1', 'ap.1'], ['sa.1'], ['eu.1']]) expect(decide({ mode: 'fallback', missingOrigins, now: 5000 })).toMatchObject({ kind: 'not-covered' });
    expect(decide({ mode: 'fallback', peerUrls: new Map(), now: 5000 })).toMatchObject({ kind: 'not-covered' });
  });

  it('stale: answers now, saying what is missing — unless answering would acknowledge what is not so', () => {
    expect(decide({ mode: 'stale' })).toEqual({ kind: 'stale', behind: 'us.1:7' });
    expect(decide({ mode: 'stale', staleAllowed: false })).toEqual({ kind: 'wait', retryInMs: 25 });
    expect(decide({ mode: 'stale', staleAllowed: false, now: 3000 })).toMatchObject({ kind: 'not-covered' });
  });

  it('never proceeds while something is missing, never answers stale when it is not allowed, and stops waiting at the bound', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom('us.1', 'us.2', 'ap.1', 'sa.3'), { maxLength: 3 }),
        fc.constantFrom<ConsistencyMode>('wait', 'fallback', 'stale'),
        fc.boolean(),
        fc.nat({ max: 30_000 }),
        fc.nat({ max: 40_000 }),
        (missingOrigins, mode, staleAllowed, waitMs, elapsed) => {
          const d = decide({ missingOrigins, mode, staleAllowed, waitMs, now: base.startedAt + elapsed });
          if (missingOrigins.length === 0) {
            expect(d.kind).toBe('proceed');
            return;
          }
          expect(d.kind).not.toBe('proceed');
          if (!staleAllowed || mode !== 'stale') expect(d.kind).not.toBe('stale');
          const bound = mode === 'fallback' ? Math.min(waitMs, FALLBACK_WAIT_MS) : waitMs;
          if (d.kind === 'wait') {
            expect(elapsed).toBeLessThan(bound);
            expect(elapsed + d.retryInMs).toBeLessThanOrEqual(bound);
          } else if (d.kind !== 'stale') expect(elapsed).toBeGreaterThanOrEqual(bound);
          if (d.kind === 'redirect') expect(mode).toBe('fallback');
        },
      ),
    );
  });
});

const own: OwnActors = { self: 'eu.1', earlier: () => undefined };

describe('uncoveredSession', () => {
  it('covers an earlier incarnation of this region up to where it ended, never beyond (no wait brings more)', () => {
    const restored: OwnActors = { self: 'eu.2', earlier: (actor) => (actor === 'eu.1' ? 40n : undefined) };
    expect(uncoveredSession(new Map([['eu.1', 40n], ['eu.2', 99n]]), new Map(), [], restored).size).toBe(0);
    expect(uncoveredSession(new Map([['eu.1', 41n]]), new Map([['eu.1', 100n]]), [], restored)).toEqual(new Map([['eu.1', 41n]]));
  });

  const applied = new Map([
    ['us.1', 10n],
    ['ap.1', 4n],
  ]);

  it('names the entries of other origins beyond what is applied; its own are always covered', () => {
    const session = new Map([
      ['eu.1', 999n],
      ['us.1', 10n],
      ['ap.1', 5n],
      ['sa.1', 1n],
    ]);
    expect(uncoveredSession(session, applied, [], own)).toEqual(
      new Map([
        ['ap.1', 5n],
        ['sa.1', 1n],
      ]),
    );
  });

  it('a key\'s held-back updates count as not applied from their position on', () => {
    const held = [{ origin: 'us.1', region: 'us', from: 8n }];
    expect(uncoveredSession(new Map([['us.1', 7n]]), applied, held, own).size).toBe(0);
    expect(uncoveredSession(new Map([['us.1', 8n]]), applied, held, own)).toEqual(new Map([['us.1', 8n]]));
    // A dead letter of unknown origin holds back every actor of the region whose stream it came from.
    const unknown = [{ origin: undefined, region: 'us', from: 1n }];
    expect(uncoveredSession(new Map([['us.1', 3n]]), applied, unknown, own)).toEqual(new Map([['us.1', 3n]]));
    expect(uncoveredSession(new Map([['ap.1', 3n]]), applied, unknown, own).size).toBe(0);
  });

  it('entries of a region removed from the deployment are no longer demanded; the others still are', () => {
    const session = new Map([
      ['sa.1', 50n],
      ['sa.2', 3n],
      ['ap.1', 5n],
    ]);
    expect(uncoveredSession(session, applied, [], own, new Set(['sa']))).toEqual(new Map([['ap.1', 5n]]));
    expect(uncoveredSession(session, applied, [], own, new Set()).size).toBe(3);
  });
});

describe('claimableApplied', () => {
  it('a key\'s read claims an origin only up to before its first held-back update, so the region\'s own token covers its next read', () => {
    const applied = new Map([
      ['us.1', 10n],
      ['us.2', 3n],
      ['ap.1', 4n],
    ]);
    const held = [{ origin: 'us.1', region: 'us', from: 8n }];
    const claim = claimableApplied(applied, held);
    expect(claim).toEqual(new Map([['us.1', 7n], ['us.2', 3n], ['ap.1', 4n]]));
    expect(uncoveredSession(claim, applied, held, own).size).toBe(0);
    expect(claimableApplied(applied, [{ origin: undefined, region: 'us', from: 1n }])).toEqual(new Map([['us.1', 0n], ['us.2', 0n], ['ap.1', 4n]]));
    expect(claimableApplied(applied, [])).toEqual(applied);
  });
});
