/**
 * Anti-entropy between two regions over real gRPC on loopback, each on its own PostgreSQL
 * database: after one region is seeded from the other by a repair, three keys are made to differ
 * behind replication's back — one key's state set by hand (SQL) to an older state, one key's row
 * deleted, one key written in one region only — and the exchange finds exactly those three, a
 * verify changes nothing, and a repair leaves both regions' digests equal, with every repaired
 * key recorded in `GET /v1/repairs` on the side it changed. Continuous anti-entropy, on its own,
 * repairs a later divergence within a few rounds. The channel is mutual TLS with a test CA, and
 * identities hold: a certificate of one region cannot merge states as another, nor answer as
 * another; a plaintext client, a certificate of another CA and one without an identity are
 * refused, and a refused call stores nothing.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DeadlineExceededError, runExchange, type ExchangeReport } from '@meridian/anti-entropy';
import { GrpcReplica, channelCredentials, type PeerIdentity, type TlsFiles } from '@meridian/anti-entropy-grpc';
import { createDatabase, dropDatabase, ensureCertificate, ensureCertificateAuthority, ensureGrpcCertificate, regionGrpcTlsEnvironment, testCertificateAuthority } from '@meridian/infra-local';
import { uniqueName, waitFor } from '@meridian/testkit';
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPOSITORY_ROOT } from '@meridian/infra-local';
import { loadConfig } from '../config.ts';
import { startRegion, type RegionService } from '../region.ts';
import { injectJson, type Answer } from '../inject.fixture.ts';

const infra = inject('infra');
const dbs = { eu: uniqueName('ae_eu'), us: uniqueName('ae_us') };
const regions: Record<string, RegionService> = {};
const clients: GrpcReplica[] = [];

const ca = testCertificateAuthority();
const certificate = (identity: PeerIdentity): TlsFiles => ensureGrpcCertificate(ca, identity);
const regionTls = (region: string): Record<string, string> => regionGrpcTlsEnvironment(certificate({ kind: 'region', region }));

/** Each names the other as its peer (a standalone region merges states from its configured peers only); no continuous loop. */
async function start(region: 'eu' | 'us', extra: Record<string, string> = {}): Promise<RegionService> {
  const url = await createDatabase(dbs[region], infra.postgresUrl);
  const peer = region === 'eu' ? 'us' : 'eu';
  return startRegion(loadConfig({ MERIDIAN_REGION: region, DATABASE_URL: url, MERIDIAN_CONTEXT_SECRET: 'test-secret-0123456789', MERIDIAN_AUTH: 'off', MERIDIAN_PG_POOL_SIZE: '4', MERIDIAN_GRPC_PORT: '0', MERIDIAN_PEER_GRPC: `${peer}=127.0.0.1:1`, MERIDIAN_ANTI_ENTROPY_INTERVAL_MS: '0', ...regionTls(region), ...extra }));
}

/** A client of `r`'s server presenting `as`'s certificate (eu's by default: the exchange's local side), expecting `r`'s. */
const grpc = (r: RegionService, as: TlsFiles | 'plaintext' = certificate({ kind: 'region', region: 'eu' }), server: PeerIdentity = { kind: 'region', region: Object.entries(regions).find(([, v]) => v === r)![0] }): GrpcReplica => {
  const c = new GrpcReplica({ address: `127.0.0.1:${r.antiEntropy.server!.port}`, credentials: channelCredentials(as === 'plaintext' ? undefined : as, server), deadlineMs: 5000 });
  clients.push(c);
  return c;
};

async function call(r: RegionService, method: 'GET' | 'PUT' | 'POST' | 'DELETE', url: string, body?: unknown): Promise<Answer> {
  return injectJson(r.app, method, url, body);
}

const digestOf = async (r: RegionService, ns: string): Promise<string> => (await call(r, 'GET', `/v1/digest?ns=${ns}`)).json.digest as string;
const exchange = (repair: boolean): Promise<ExchangeReport> => runExchange(regions.eu!.antiEntropy.local, grpc(regions.us!), { repair, confirmAfterMs: 50, sleep: (ms) => new Promise((r) => setTimeout(r, ms)) });

/** The `meridian` program as a child process (exit code and output); asynchronous: the regions it calls serve from this process. */
const meridian = (...args: string[]): Promise<{ status: number; stdout: string; stderr: string }> =>
  new Promise((resolve) => {
    execFile(process.execPath, ['--disable-warning=TimeoutNegativeWarning', '--conditions=meridian-source', join(REPOSITORY_ROOT, 'packages', 'cli', 'src', 'main.ts'), ...args], { encoding: 'utf8', timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ status: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
  });

beforeAll(async () => {
  regions.eu = await start('eu');
  regions.us = await start('us');
}, 120_000);

afterAll(async () => {
  for (const c of clients) c.close();
  await Promise.all(Object.values(regions).map((r) => r.close()));
  await Promise.all(Object.values(dbs).map((db) => dropDatabase(db, infra.postgresUrl)));
});

describe('anti-entropy over gRPC', () => {
  it('finds exactly the keys altered by hand, deleted and added, and repairs them both ways', async () => {
    const { eu, us } = regions as { eu: RegionService; us: RegionService };
    for (const r of [eu, us]) {
      expect((await call(r, 'PUT', '/v1/namespaces/reg', { policy: 'mv' })).status).toBe(201);
      expect((await call(r, 'PUT', '/v1/namespaces/cnt', { policy: 'counter' })).status).toBe(201);
    }
    for (let i = 0; i < 40; i++) await call(eu, 'PUT', `/v1/ns/reg/keys/k${i}`, { value: { i } });
    for (let i = 0; i < 10; i++) await call(eu, 'POST', `/v1/ns/cnt/keys/c${i}/ops`, { increment: i + 1 });
    // The state k3 had before its second write: what a stale copy of the row would hold.
    const old = (await eu.store.pool.query<{ state: Buffer }>("SELECT state FROM meridian_keys WHERE namespace = 'reg' AND key = 'k3'")).rows[0]!.state;
    const read = await call(eu, 'GET', '/v1/ns/reg/keys/k3');
    await call(eu, 'PUT', '/v1/ns/reg/keys/k3', { value: 'newer', context: read.json.context });

    // us starts empty: one repair copies everything (eu had nothing to learn).
    const seed = await exchange(true);
    expect(seed.repairedRemote).toHaveLength(50);
    expect(seed.repairedLocal).toHaveLength(0);
    expect(await digestOf(us, 'reg')).toBe(await digestOf(eu, 'reg'));
    expect(await digestOf(us, 'cnt')).toBe(await digestOf(eu, 'cnt'));
    expect((await exchange(false)).differences).toEqual([]);

    // Behind replication's back: a hand edit, a deleted row, a key written in us only.
    await us.store.pool.query("UPDATE meridian_keys SET state = $1 WHERE namespace = 'reg' AND key = 'k3'", [old]);
    await us.store.pool.query("DELETE FROM meridian_keys WHERE namespace = 'cnt' AND key = 'c7'");
    expect((await call(us, 'PUT', '/v1/ns/reg/keys/only-us', { value: 1 })).status).toBe(200);
    const before = { eu: [await digestOf(eu, 'reg'), await digestOf(eu, 'cnt')], us: [await digestOf(us, 'reg'), await digestOf(us, 'cnt')] };
    expect(before.us).not.toEqual(before.eu);

    const verify = await exchange(false);
    expect(verify.differences.map((d) => `${d.namespace}/${d.key}`).sort()).toEqual(['cnt/c7', 'reg/k3', 'reg/only-us']);
    expect(verify.differences.find((d) => d.key === 'c7')!.remoteHash).toBeUndefined();
    expect(verify.differences.find((d) => d.key === 'only-us')!.localHash).toBeUndefined();
    expect({ eu: [await digestOf(eu, 'reg'), await digestOf(eu, 'cnt')], us: [await digestOf(us, 'reg'), await digestOf(us, 'cnt')] }).toEqual(before);

    const repair = await exchange(true);
    expect(repair.repairedRemote.map((r) => r.key).sort()).toEqual(['c7', 'k3']);
    expect(repair.repairedLocal.map((r) => r.key)).toEqual(['only-us']);
    expect(await digestOf(us, 'reg')).toBe(await digestOf(eu, 'reg'));
    expect(await digestOf(us, 'cnt')).toBe(await digestOf(eu, 'cnt'));
    expect((await call(us, 'GET', '/v1/ns/reg/keys/k3')).json.values).toEqual(['newer']);
    expect((await call(us, 'GET', '/v1/ns/cnt/keys/c7')).json.value).toBe(8);
    expect((await call(eu, 'GET', '/v1/ns/reg/keys/only-us')).json.values).toEqual([1]);
    expect((await exchange(false)).differences).toEqual([]);

    const usRepairs = (await call(us, 'GET', '/v1/repairs?ns=reg&key=k3')).json.repairs;
    expect(usRepairs).toHaveLength(2);
    expect(usRepairs[0]).toMatchObject({ namespace: 'reg', key: 'k3', region: 'us', peer: 'eu', before: expect.stringMatching(/^[0-9a-f]{64}$/), after: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect((await call(eu, 'GET', '/v1/repairs?ns=reg')).json.repairs.map((r: { key: string }) => r.key)).toEqual(['only-us']);
  });

  it('refuses a merge from a region that is not a member: FAILED_PRECONDITION, nothing changed', async () => {
    const { eu, us } = regions as { eu: RegionService; us: RegionService };
    const states = await eu.antiEntropy.local.fetchStates('reg', ['k1']);
    await us.store.pool.query("DELETE FROM meridian_keys WHERE namespace = 'reg' AND key = 'k1'");
    const digest = await digestOf(us, 'reg');
    // ap's own certificate (identity is fine: it merges as itself); ap is not a member of us.
    const merge = grpc(us, certificate({ kind: 'region', region: 'ap' })).mergeStates('reg', 'mv', 'ap', states);
    await expect(merge).rejects.toThrow(/mergeStates at .* failed: ap is not a member of region us/);
    await expect(merge).rejects.toMatchObject({ cause: { code: 9 } }); // gRPC FAILED_PRECONDITION
    expect(await digestOf(us, 'reg')).toBe(digest);
    // A member's merge of the same state is taken.
    expect((await grpc(us).mergeStates('reg', 'mv', 'eu', states)).map((r) => r.key)).toEqual(['k1']);
  });

  it('meridian verify exits 1 and lists the differing keys, repair fixes them, verify then exits 0', async () => {
    const { eu, us } = regions as { eu: RegionService; us: RegionService };
    await eu.store.pool.query("DELETE FROM meridian_keys WHERE namespace = 'reg' AND key IN ('k10', 'k11')");
    await us.store.pool.query("DELETE FROM meridian_keys WHERE namespace = 'cnt' AND key = 'c2'");
    const operator = certificate({ kind: 'operator' });
    const args = ['--grpc', `eu=127.0.0.1:${eu.antiEntropy.server!.port}`, '--grpc', `us=127.0.0.1:${us.antiEntropy.server!.port}`, '--dir', mkdtempSync(join(tmpdir(), 'meridian-verify-')), '--confirm-ms', '50',
      '--tls-ca', operator.caFile, '--tls-cert', operator.certFile, '--tls-key', operator.keyFile];
    const verify = await meridian('verify', ...args);
    expect(verify.status).toBe(1);
    expect(verify.stdout).toContain('eu↔us  reg/k10  missing in eu');
    expect(verify.stdout).toContain('eu↔us  reg/k11  missing in eu');
    expect(verify.stdout).toContain('eu↔us  cnt/c2  missing in us');
    expect(verify.stdout).toContain('3 key(s) differ');
    // An operator's output holds the findings, not TLS noise about the IP addresses it dialled.
    expect(verify.stderr).not.toContain('RFC 6066');
    expect(await digestOf(eu, 'reg')).not.toBe(await digestOf(us, 'reg'));

    const repair = await meridian('repair', ...args);
    expect(repair.stdout).toContain('repaired 3 key state(s)');
    expect(repair.status).toBe(0);
    expect(await digestOf(eu, 'reg')).toBe(await digestOf(us, 'reg'));
    expect(await digestOf(eu, 'cnt')).toBe(await digestOf(us, 'cnt'));
    const again = await meridian('verify', ...args);
    expect(again.stdout).toContain('regions eu, us hold the same data');
    expect(again.status).toBe(0);
  });

  it('a call that outlives its deadline rejects as DeadlineExceededError (the exchange splits it); other failures do not', async () => {
    const us = regions.us!;
    // 1 ms: the TLS handshake alone outlives it.
    const hurried = new GrpcReplica({ address: `127.0.0.1:${us.antiEntropy.server!.port}`, credentials: channelCredentials(certificate({ kind: 'region', region: 'eu' }), { kind: 'region', region: 'us' }), deadlineMs: 1 });
    clients.push(hurried);
    await expect(hurried.segments('reg', [0, 1, 2])).rejects.toThrow(DeadlineExceededError);
    await expect(grpc(us, 'plaintext').summary()).rejects.not.toThrow(DeadlineExceededError);
  });

  it('continuous anti-entropy repairs a divergence by itself', async () => {
    const { eu, us } = regions as { eu: RegionService; us: RegionService };
    const url = eu.store.pool.options.connectionString!;
    await eu.close();
    regions.eu = await startRegion(loadConfig({
      MERIDIAN_REGION: 'eu', DATABASE_URL: url, MERIDIAN_CONTEXT_SECRET: 'test-secret-0123456789', MERIDIAN_AUTH: 'off', MERIDIAN_PG_POOL_SIZE: '4', MERIDIAN_GRPC_PORT: '0',
      MERIDIAN_PEER_GRPC: `us=127.0.0.1:${us.antiEntropy.server!.port}`, MERIDIAN_ANTI_ENTROPY_INTERVAL_MS: '200', ...regionTls('eu'),
    }));
    await us.store.pool.query("DELETE FROM meridian_keys WHERE namespace = 'reg' AND key = 'k5'");
    await waitFor(async () => (await digestOf(us, 'reg')) === (await digestOf(regions.eu!, 'reg')), Boolean, { timeoutMs: 15_000, intervalMs: 100, what: 'us to be repaired' });
    expect((await call(us, 'GET', '/v1/ns/reg/keys/k5')).json.values).toEqual([{ i: 5 }]);
    expect((await call(regions.eu, 'GET', '/v1/anti-entropy')).json.peers.us.ok).toBe(true);
  });

  it('refuses a certificate of one region merging as another, a server answering as another region, and clients without a deployment identity', async () => {
    const us = regions.us!;
    const digest = await digestOf(us, 'reg');
    const state = { key: 'forged', state: new Uint8Array([1]), maxHlc: 1n };
    // eu's certificate may read us and merge as eu, never as ap (nor as us itself).
    await expect(grpc(us).summary()).resolves.toMatchObject({ region: 'us' });
    await expect(grpc(us).mergeStates('reg', 'mv', 'ap', [state])).rejects.toThrow(/a certificate of region eu cannot merge states as region ap/);
    await expect(grpc(us).mergeStates('reg', 'mv', 'us', [state])).rejects.toThrow(/a certificate of region eu cannot merge states as region us/);
    // A client that dials "eu" but reaches us's server refuses it: us cannot answer as eu.
    await expect(grpc(us, certificate({ kind: 'region', region: 'eu' }), { kind: 'region', region: 'eu' }).summary()).rejects.toThrow(/expected the anti-entropy server of region eu, found a certificate of region us/);
    // Plaintext; a certificate of another CA; a certificate of this CA without an identity.
    const foreign = ensureGrpcCertificate(ensureCertificateAuthority(mkdtempSync(join(tmpdir(), 'meridian-foreign-ca-'))), { kind: 'region', region: 'eu' });
    const anonymous = ensureCertificate(ca, 'no-identity', { commonName: 'eu', dnsNames: ['localhost'], ips: ['127.0.0.1'] });
    await expect(grpc(us, 'plaintext').summary()).rejects.toThrow(/failed/);
    await expect(grpc(us, foreign).summary()).rejects.toThrow(/failed/);
    await expect(grpc(us, anonymous).summary()).rejects.toThrow(/a certificate without a Meridian identity may not call summary/);
    await expect(grpc(us, anonymous).mergeStates('reg', 'mv', 'eu', [state])).rejects.toThrow(/may not call mergeStates/);
    expect(await digestOf(us, 'reg')).toBe(digest);
    expect((await call(us, 'GET', '/v1/ns/reg/keys/forged')).status).toBe(404);
  });
});
