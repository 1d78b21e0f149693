/**
 * Causal writes across two regions on real Kafka (DESIGN §6): an operation sent with the context
 * (or session) a client read in one region, to a region that has not applied what it names, is
 * never acknowledged as if it had taken effect — a remove sent there is not undone when the add
 * arrives — and a last-writer-wins write whose client read a version supersedes it even when the
 * region that wrote that version runs its clock far ahead. Tokens cover what the data reflects.
 * Region ids are unique per run (topics persist on the shared brokers).
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { waitFor } from '@meridian/testkit';
import type { RegionService } from './region.ts';
import { regionCaller, startRegions, type Regions } from './regions.fixture.ts';
import { parseSession } from './session-token.ts';

const infra = inject('infra');
const suffix = randomBytes(3).toString('hex');
const ids = ['eu', 'us'].map((r) => `${r}${suffix}`) as [string, string];
const EU = 0;
const US = 1;
/** us's clock runs ten minutes ahead: far beyond the drift bound (60 s), so eu's HLC never catches up with it. */
const US_SKEW_MS = 10 * 60_000;
let cluster: Regions | undefined;
const regions: RegionService[] = [];
const call = regionCaller(() => regions);

beforeAll(async () => {
  cluster = await startRegions(ids, { postgresUrl: infra.postgresUrl, kafka: infra.kafka, kafkaSecurity: infra.kafkaSecurity, dbPrefix: 'causal', partitions: 2, peerUrlBase: 9200, hooks: (i) => (i === US ? { now: () => Date.now() + US_SKEW_MS } : {}) });
  regions.push(...cluster.regions);
  for (const [ns, policy] of [['tags', 'set'], ['docs', 'map'], ['names', 'lww'], ['people', 'mv']] as const) expect((await call(EU, 'PUT', `/v1/namespaces/${ns}`, { policy })).status).toBe(201);
  await waitFor(() => Promise.all(['tags', 'docs', 'names', 'people'].map((ns) => call(US, 'GET', `/v1/namespaces/${ns}`))), (rs) => rs.every((r) => r.status === 200), { timeoutMs: 60_000, what: 'namespaces in us' });
}, 120_000);

afterAll(async () => {
  await cluster?.close();
});

/** eu stops applying us's updates (eu's replicator of us's topic is paused) for the duration of `run`. */
async function withEuBehindUs(run: () => Promise<void>): Promise<void> {
  const link = regions[EU]!.replication!.replicators.find((r) => r.peer === ids[US])!;
  link.pause('test: eu lags us');
  try {
    await run();
  } finally {
    link.resume();
  }
}

const digests = async (ns: string): Promise<string[]> => Promise.all([EU, US].map(async (i) => (await call(i, 'GET', `/v1/digest?ns=${ns}`)).json['digest'] as string));
const converged = async (ns: string): Promise<void> => {
  await waitFor(() => digests(ns), (d) => new Set(d).size === 1 && d[0] !== undefined, { timeoutMs: 60_000, intervalMs: 200, what: `${ns} converged` });
};

describe('causal writes across regions', () => {
  it('a set remove sent to a region that has not applied the add is not acknowledged; redirected or waited for, it wins everywhere', async () => {
    await withEuBehindUs(async () => {
      await call(US, 'POST', '/v1/ns/tags/keys/k/ops', { add: ['x'] });
      const context = (await call(US, 'GET', '/v1/ns/tags/keys/k')).json['context'] as string;
      // Today's bug: eu answered 200 [] here, and "x" came back when the add arrived.
      const fallback = await call(EU, 'POST', '/v1/ns/tags/keys/k/ops', { remove: ['x'], context }, { 'x-meridian-consistency': 'fallback' });
      expect(fallback.status).toBe(307);
      expect(fallback.headers['location']).toBe('http://127.0.0.1:9201/v1/ns/tags/keys/k/ops');
      for (const mode of ['wait', 'stale'] as const) {
        const refused = await call(EU, 'POST', '/v1/ns/tags/keys/k/ops', { remove: ['x'], context }, { 'x-meridian-consistency': mode, 'x-meridian-wait-ms': '200' });
        expect(refused.status).toBe(503);
        expect(refused.json['error'].code).toBe('MERIDIAN_SESSION_NOT_COVERED');
      }
      // The client follows the redirect: us applies the remove.
      expect((await call(US, 'POST', '/v1/ns/tags/keys/k/ops', { remove: ['x'], context })).json['value']).toEqual([]);
    });
    await converged('tags');
    for (const i of [EU, US]) expect((await call(i, 'GET', '/v1/ns/tags/keys/k')).json['value']).toEqual([]);
  });

  it('a remove that waits in the lagging region is applied once the add arrives, and the add stays removed everywhere', async () => {
    let waiting: ReturnType<typeof call> | undefined;
    await withEuBehindUs(async () => {
      await call(US, 'POST', '/v1/ns/tags/keys/w/ops', { add: ['y'] });
      const context = (await call(US, 'GET', '/v1/ns/tags/keys/w')).json['context'] as string;
      waiting = call(EU, 'POST', '/v1/ns/tags/keys/w/ops', { remove: ['y'], context }, { 'x-meridian-wait-ms': '30000' });
      await new Promise((r) => setTimeout(r, 300));
    });
    const removed = await waiting!;
    expect(removed.status).toBe(200);
    expect(removed.json['value']).toEqual([]);
    await converged('tags');
    for (const i of [EU, US]) expect((await call(i, 'GET', '/v1/ns/tags/keys/w')).json['value']).toEqual([]);
  });

  it('an OR-map field removal sent with a context to the lagging region is not acknowledged either', async () => {
    await withEuBehindUs(async () => {
      await call(US, 'POST', '/v1/ns/docs/keys/d/ops', { add: { tags: ['x'] }, set: { title: 'T' } });
      const context = (await call(US, 'GET', '/v1/ns/docs/keys/d')).json['context'] as string;
      for (const op of [{ delete: ['title'] }, { remove: { tags: ['x'] } }]) {
        const refused = await call(EU, 'POST', '/v1/ns/docs/keys/d/ops', { ...op, context }, { 'x-meridian-wait-ms': '100' });
        expect(refused.status).toBe(503);
        expect(refused.json['error'].code).toBe('MERIDIAN_SESSION_NOT_COVERED');
      }
    });
    await converged('docs');
    expect((await call(EU, 'GET', '/v1/ns/docs/keys/d')).json['value']).toEqual({ tags: ['x'], title: 'T' });
  });

  it('lww: a write whose client read a version supersedes it, although that version arrives later with a far higher HLC', async () => {
    await withEuBehindUs(async () => {
      await call(US, 'PUT', '/v1/ns/names/keys/n', { value: 'written in us (clock ahead)' });
      const context = (await call(US, 'GET', '/v1/ns/names/keys/n')).json['context'] as string;
      const w = await call(EU, 'PUT', '/v1/ns/names/keys/n', { value: 'written in eu after reading it', context });
      expect(w.status).toBe(200);
    });
    await converged('names');
    for (const i of [EU, US]) expect((await call(i, 'GET', '/v1/ns/names/keys/n')).json['value']).toBe('written in eu after reading it');
    // Not a conflict: the eu write saw the us version.
    expect((await call(US, 'GET', '/v1/conflicts?ns=names&key=n')).json['conflicts']).toEqual([]);
  });

  it('mv: a write whose client read a version supersedes it when it arrives (no sibling)', async () => {
    await withEuBehindUs(async () => {
      await call(US, 'PUT', '/v1/ns/people/keys/p', { value: 'us' });
      const context = (await call(US, 'GET', '/v1/ns/people/keys/p')).json['context'] as string;
      expect((await call(EU, 'PUT', '/v1/ns/people/keys/p', { value: 'eu, after reading us', context })).status).toBe(200);
    });
    await converged('people');
    for (const i of [EU, US]) expect((await call(i, 'GET', '/v1/ns/people/keys/p')).json['values']).toEqual(['eu, after reading us']);
  });

  it('a read that shows a replicated update answers a token that covers it; a write with a session the region lacks is redirected', async () => {
    const written = await call(US, 'PUT', '/v1/ns/people/keys/t', { value: 'from us' });
    const usActor = [...parseSession(written.json['session'] as string).keys()].find((a) => a.startsWith(`${ids[US]}.`))!;
    const position = parseSession(written.json['session'] as string).get(usActor)!;
    const seen = await waitFor(() => call(EU, 'GET', '/v1/ns/people/keys/t'), (r) => r.status === 200, { timeoutMs: 60_000, intervalMs: 20, what: 'the us write in eu' });
    expect(parseSession(seen.json['session'] as string).get(usActor) ?? 0n).toBeGreaterThanOrEqual(position);
    await withEuBehindUs(async () => {
      const later = await call(US, 'PUT', '/v1/ns/people/keys/t2', { value: 'later' });
      const session = later.json['session'] as string;
      const redirected = await call(EU, 'PUT', '/v1/ns/people/keys/t3', { value: 'after later' }, { 'x-meridian-session': session, 'x-meridian-consistency': 'fallback' });
      expect(redirected.status).toBe(307);
      expect(redirected.headers['location']).toBe('http://127.0.0.1:9201/v1/ns/people/keys/t3');
      expect((await call(EU, 'GET', '/v1/ns/people/keys/t3')).status).toBe(404);
    });
  });
});
