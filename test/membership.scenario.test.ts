/**
 * Region lifecycle and continuous anti-entropy with real processes (docs/decisions/0014): three
 * region services (each its own database; Kafka clusters from the test run's brokers), secured as
 * the local cluster is, each with its anti-entropy gRPC server (mutual TLS) and continuous
 * anti-entropy on.
 *
 * - a fourth region joins under load: while the three keep writing it starts with
 *   MERIDIAN_JOIN=on, seeds every namespace from each peer over gRPC, and streams; the three add
 *   it to their membership through the admin API, without a restart. Once the writes stop, all
 *   four are equal by the anti-entropy compare (over gRPC, as `meridian verify` does) within a
 *   bounded number of anti-entropy rounds, and every acknowledged write is present in all four;
 * - a key's state altered by hand in one database (an UPDATE in SQL, behind replication's back)
 *   is detected and repaired by continuous anti-entropy, within a bounded number of rounds: the
 *   key reads its latest value again, the repair is recorded, and the regions are equal again.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { runExchange } from '@meridian/anti-entropy';
import { GrpcReplica, channelCredentials } from '@meridian/anti-entropy-grpc';
import { createDatabase, dropDatabase, ensureGrpcCertificate, ephemeralAuth, freePort, startRegionProcess, testCertificateAuthority, testKafkaAccess, type LocalAuth, type RegionProcess, type RegionProcessOptions } from '@meridian/infra-local';
import { uniqueName, waitFor } from '@meridian/testkit';

const infra = inject('infra');
const suffix = randomBytes(3).toString('hex');
const ids = ['eu', 'us', 'ap', 'sa'].map((r) => `${r}${suffix}`);
const dbs = ids.map((id) => uniqueName(`mbs_${id}`));
/** Continuous anti-entropy's interval: every bound below is a number of these rounds. */
const ROUND_MS = 1000;
const ROUNDS = 10;
const regions: RegionProcess[] = [];
let urls: string[];
let ports: number[];
let grpcPorts: number[];
let auth: LocalAuth;
/** Each region's Kafka security: plaintext, or SASL_SSL with ACLs when the run's brokers are secured. */
let kafkaAccess: Record<string, RegionProcessOptions['kafkaSecurity']>;

interface Answer {
  status: number;
  json: Record<string, any>;
}

async function http(i: number, method: string, path: string, body?: unknown): Promise<Answer> {
  const r = await fetch(`${regions[i]!.url}${path}`, { method, headers: { authorization: `Bearer ${auth.tokens.admin}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  const text = await r.text();
  return { status: r.status, json: text ? (JSON.parse(text) as Record<string, any>) : {} };
}

const grpcOf = (i: number): string => `127.0.0.1:${grpcPorts[i]!}`;
const kafkaOf = (i: number): string => infra.kafka[i % infra.kafka.length]!;

function start(i: number, peers: readonly number[], join: boolean): Promise<RegionProcess> {
  return startRegionProcess({
    region: ids[i]!,
    databaseUrl: urls[i]!,
    auth,
    port: ports[i]!,
    grpcPort: grpcPorts[i]!,
    kafkaBrokers: kafkaOf(i),
    kafkaSecurity: kafkaAccess[ids[i]!],
    // Mutual TLS between the regions with a test CA, as deployed (the joining region's too).
    grpcTls: ensureGrpcCertificate(testCertificateAuthority(), { kind: 'region', region: ids[i]! }),
    peers: Object.fromEntries(peers.map((j) => [ids[j]!, kafkaOf(j)])),
    peerUrls: Object.fromEntries(peers.map((j) => [ids[j]!, `http://127.0.0.1:${ports[j]!}`])),
    peerGrpc: Object.fromEntries(peers.map((j) => [ids[j]!, grpcOf(j)])),
    logLevel: 'warn',
    env: { MERIDIAN_PG_POOL_SIZE: '4', MERIDIAN_TOPIC_PARTITIONS: '4', MERIDIAN_ANTI_ENTROPY_INTERVAL_MS: String(ROUND_MS), MERIDIAN_ANTI_ENTROPY_RATE: '20000', ...(join ? { MERIDIAN_JOIN: 'on' } : {}) },
    readyTimeoutMs: 150_000,
  });
}

/** The operator's certificate, as `meridian verify` holds it. */
const operatorTls = ensureGrpcCertificate(testCertificateAuthority(), { kind: 'operator' });

/** The anti-entropy compare of region 0 with every other one, over gRPC: the differing keys. */
async function differences(count: number): Promise<string[]> {
  const replicas = Array.from({ length: count }, (_, i) => new GrpcReplica({ address: grpcOf(i), credentials: channelCredentials(operatorTls, { kind: 'region', region: ids[i]! }) }));
  try {
    const out: string[] = [];
    for (let i = 1; i < count; i++) {
      const report = await runExchange(replicas[0]!, replicas[i]!, { repair: false, confirmAfterMs: 300, sleep: (ms) => new Promise((r) => setTimeout(r, ms)) });
      out.push(...report.differences.map((d) => `${ids[i]}: ${d.namespace}/${d.key}`));
    }
    return out;
  } finally {
    for (const r of replicas) r.close();
  }
}

beforeAll(async () => {
  auth = await ephemeralAuth();
  urls = await Promise.all(dbs.map((db) => createDatabase(db, infra.postgresUrl)));
  ports = await Promise.all(ids.map(() => freePort()));
  grpcPorts = await Promise.all(ids.map(() => freePort()));
  kafkaAccess = await testKafkaAccess(infra, Object.fromEntries(ids.map((id, i) => [id, i % infra.kafka.length])));
  regions.push(...(await Promise.all([0, 1, 2].map((i) => start(i, [0, 1, 2].filter((j) => j !== i), false)))));
}, 180_000);

afterAll(async () => {
  await Promise.all(regions.map((r) => r.stop()));
  await Promise.all(dbs.map((db) => dropDatabase(db, infra.postgresUrl)));
});

describe('region lifecycle with real processes', () => {
  it('a fourth region joins under load: all four end equal by the anti-entropy compare, every acknowledged write present, within bounded rounds', async () => {
    expect((await http(0, 'PUT', '/v1/namespaces/docs', { policy: 'mv' })).status).toBe(201);
    expect((await http(1, 'PUT', '/v1/namespaces/hits', { policy: 'counter' })).status).toBe(201);
    await waitFor(() => Promise.all([0, 1, 2].flatMap((i) => [http(i, 'GET', '/v1/namespaces/docs'), http(i, 'GET', '/v1/namespaces/hits')])), (rs) => rs.every((r) => r.status === 200), { timeoutMs: 60_000, what: 'namespaces everywhere' });

    const acked: { key: string; value: number }[] = [];
    let hits = 0;
    let writing = true;
    const writer = async (i: number): Promise<void> => {
      for (let n = 0; writing; n++) {
        const key = `${ids[i]}-${n}`;
        const w = await http(i, 'PUT', `/v1/ns/docs/keys/${key}`, { value: n }).catch(() => undefined);
        if (w?.status === 200) acked.push({ key, value: n });
        const h = await http(i, 'POST', '/v1/ns/hits/keys/total/ops', { increment: 1 }).catch(() => undefined);
        if (h?.status === 200) hits++;
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const writers = [0, 1, 2].map((i) => writer(i));
    try {
      await new Promise((r) => setTimeout(r, 2000));
      // The fourth region starts while the three write, seeds from each over gRPC, then streams.
      regions.push(await start(3, [0, 1, 2], true));
      for (const i of [0, 1, 2]) {
        const added = await http(i, 'PUT', `/v1/members/${ids[3]}`, { kafka: kafkaOf(3), url: regions[3]!.url, grpc: grpcOf(3) });
        expect(added.status, `member added in ${ids[i]}`).toBe(200);
      }
      // It writes too, and the others consume its topic without a restart.
      for (let n = 0; n < 10; n++) {
        expect((await http(3, 'PUT', `/v1/ns/docs/keys/${ids[3]}-${n}`, { value: n })).status).toBe(200);
        acked.push({ key: `${ids[3]}-${n}`, value: n });
      }
      await new Promise((r) => setTimeout(r, 2000));
    } finally {
      writing = false;
      await Promise.all(writers);
    }
    expect(acked.length).toBeGreaterThan(30);

    const stopped = Date.now();
    const diff = await waitFor(() => differences(4), (d) => d.length === 0, { timeoutMs: ROUNDS * ROUND_MS + 30_000, intervalMs: 500, what: 'all four equal by the anti-entropy compare' });
    expect(diff).toEqual([]);
    const took = Date.now() - stopped;
    // Equal by the compare, so present in the joined region means present in all four.
    for (const w of acked) expect((await http(3, 'GET', `/v1/ns/docs/keys/${w.key}`)).json['values'], `${w.key} in ${ids[3]}`).toEqual([w.value]);
    for (const i of [0, 1, 2, 3]) {
      expect((await http(i, 'GET', '/v1/ns/hits/keys/total')).json['value'], `hits in ${ids[i]}`).toBe(hits);
      const links = (await http(i, 'GET', '/v1/replication')).json['peers'] as Record<string, { state: string }>;
      expect(Object.keys(links).sort()).toEqual(ids.filter((_, j) => j !== i).sort());
    }
    // Bounded: equal within ROUNDS anti-entropy rounds (plus the compare's own time) of the last write.
    expect(took).toBeLessThan(ROUNDS * ROUND_MS + 30_000);
  }, 300_000);

  it('a key altered by hand in one database is detected and repaired by continuous anti-entropy within bounded rounds', async () => {
    const first = await http(0, 'PUT', '/v1/ns/docs/keys/edited', { value: 'first' });
    expect(first.status).toBe(200);
    await waitFor(() => Promise.all([1, 2, 3].map((i) => http(i, 'GET', '/v1/ns/docs/keys/edited'))), (rs) => rs.every((r) => r.json['values']?.[0] === 'first'), { timeoutMs: 60_000, what: 'first everywhere' });
    const db = new pg.Client({ connectionString: urls[2]! });
    await db.connect();
    try {
      const { rows } = await db.query<{ state: Buffer }>("SELECT state FROM meridian_keys WHERE namespace = 'docs' AND key = 'edited'");
      const old = rows[0]!.state;
      expect((await http(0, 'PUT', '/v1/ns/docs/keys/edited', { value: 'second', context: first.json['context'] })).status).toBe(200);
      await waitFor(() => Promise.all([1, 2, 3].map((i) => http(i, 'GET', '/v1/ns/docs/keys/edited'))), (rs) => rs.every((r) => r.json['values']?.[0] === 'second'), { timeoutMs: 60_000, what: 'second everywhere' });
      // Behind replication's back: ap's row goes back to the older state.
      await db.query("UPDATE meridian_keys SET state = $1 WHERE namespace = 'docs' AND key = 'edited'", [old]);
    } finally {
      await db.end();
    }
    const edited = Date.now();
    expect((await http(2, 'GET', '/v1/ns/docs/keys/edited')).json['values']).toEqual(['first']);
    await waitFor(() => http(2, 'GET', '/v1/ns/docs/keys/edited'), (r) => JSON.stringify(r.json['values']) === '["second"]', { timeoutMs: ROUNDS * ROUND_MS, intervalMs: 200, what: 'the edited key repaired in ap' });
    expect(Date.now() - edited).toBeLessThan(ROUNDS * ROUND_MS);
    const repairs = (await http(2, 'GET', '/v1/repairs?ns=docs&key=edited')).json['repairs'] as { key: string; peer: string }[];
    expect(repairs.length).toBeGreaterThan(0);
    expect(ids).toContain(repairs[0]!.peer);
    expect(await differences(4)).toEqual([]);
  }, 180_000);
});
