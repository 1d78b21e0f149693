/**
 * `meridian join` and `meridian remove`: a region added to, or taken out of, the running local
 * cluster (docs/decisions/0014-region-membership.md).
 *
 * - `join REGION` runs in the foreground as that region's supervisor: it starts the region's
 *   Kafka (under `<dir>/kafka/<region>`) and database, then the region service with
 *   MERIDIAN_JOIN=on and every running region as its peers — it copies every namespace from each
 *   over gRPC and streams from the positions that copy reflects; it answers ready once every
 *   link streams — then adds it to every other region's membership (`PUT /v1/members/REGION`,
 *   admin token), and to cluster.json, so status, lag, verify and repair see it. Ctrl-C (or
 *   `meridian down`) stops its processes; its data is kept, and a later `join` of the same region
 *   resumes from it (its links have stored offsets: no copy again). A region some peer lists as
 *   removed is refused unless `--fresh`, which drops its kept database and Kafka data first and
 *   asks the peers with `fresh=true` (join-plan.ts). On a cluster whose Kafka runs SASL_SSL (the
 *   default) the region's principal is made like the others': its own broker is formatted with
 *   every principal, the peers' running brokers get its SCRAM user (addScramUsers), and each of
 *   the brokers the ACLs `regionAcls` lists for it, all before the region starts with its
 *   credentials (docs/security.md).
 * - `remove REGION` asks every other region to drop it (`DELETE /v1/members/REGION`): a region
 *   whose link from it has not applied everything it published refuses (the answer says why)
 *   unless `--force`. A region that `join` started is then stopped and leaves cluster.json.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  addScramUsers,
  adminUrl,
  brokerSecurity,
  createAcls,
  dropDatabase,
  ensureKafkaSecurity,
  kafkaClientSecurity,
  regionAcls,
  assertPortsFree,
  childrenOf,
  ensureCertificateAuthority,
  ensureGrpcCertificate,
  ensureDatabase,
  ensureKafkaJars,
  ensurePostgres,
  freePort,
  isAlive,
  localClusterAuth,
  operatorRegionSettings,
  peerSettings,
  readClusterFile,
  startKafkaBroker,
  startRegionProcess,
  writeClusterFile,
  REGION_PRESETS,
  type ClusterFile,
  type ClusterRegion,
  type KafkaBroker,
  type KafkaDeploymentSecurity,
} from '@meridian/infra-local';
import type { JoinCommand, RemoveCommand } from './cli-args.ts';
import { joinPlan, type PeerMembers } from './join-plan.ts';

const JOIN_PID = (region: string): string => `join-${region}`;

/** The pid of the Kafka this process started on `dataDir`, named as cluster.json names it (`down` sweeps it). */
function kafkaPid(dataDir: string): Record<string, number> {
  const child = childrenOf(process.pid).find((c) => c.cmdline.includes('kafka.Kafka') && c.cmdline.includes(join(dataDir, 'server.properties')));
  return child ? { [`kafka-${dataDir.split('/').at(-1)!}`]: child.pid } : {};
}

function runningCluster(dir: string): ClusterFile {
  const file = readClusterFile(dir);
  const supervisor = file?.pids['supervisor'];
  if (!file || supervisor === undefined || !isAlive(supervisor)) throw new Error(`no cluster is running from ${dir}: start one with \`meridian up\``);
  return file;
}

interface Answer {
  readonly status: number;
  readonly json: { readonly error?: { readonly code: string; readonly message: string }; readonly warning?: string };
}

/** Each running region's members, as join reads them (a region that does not answer fails the join). */
async function peerMembers(regions: readonly ClusterRegion[], token: string | undefined): Promise<PeerMembers[]> {
  return Promise.all(
    regions.map(async (r) => {
      const res = await fetch(`${r.url}/v1/members`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
      if (res.status !== 200) throw new Error(`region ${r.id} did not list its members (${res.status}): ${await res.text()}`);
      const body = (await res.json()) as { members: { region: string; state: string }[] };
      return { peer: r.id, members: body.members };
    }),
  );
}

async function call(url: string, method: 'PUT' | 'DELETE', token: string | undefined, body?: unknown): Promise<Answer> {
  const r = await fetch(url, { method, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  const text = await r.text();
  return { status: r.status, json: text ? (JSON.parse(text) as Answer['json']) : {} };
}

/** The databases' prefix this cluster uses (`meridian_local` for `meridian_local_eu`). */
function databasePrefix(file: ClusterFile): string {
  const r = file.regions[0]!;
  const suffix = `_${r.id.replace(/-/g, '_')}`;
  return r.database.endsWith(suffix) ? r.database.slice(0, -suffix.length) : 'meridian_local';
}

/** cluster.json with `change` applied to a fresh read (the file may have moved since). */
function updateClusterFile(dir: string, change: (file: ClusterFile) => ClusterFile): void {
  const file = readClusterFile(dir);
  if (file) writeClusterFile(dir, change(file));
}

/**
 * Gives region `id` the Kafka access `meridian up` gives every region: its own broker (`own`,
 * formatted with every principal) gets the ACLs of `id`'s topic and groups; each peer's running
 * broker gets `id`'s SCRAM user and the ACLs that let `id` read the peer's topic. Both are
 * idempotent, so a join again (`--fresh` included) repeats them harmlessly.
 */
async function admitToKafka(dir: string, security: KafkaDeploymentSecurity, id: string, own: KafkaBroker, peers: readonly ClusterRegion[]): Promise<void> {
  const principals = new Map([...security.regions].map(([region, user]) => [region, user.username]));
  const admin = kafkaClientSecurity(security.ca.caFile, security.admin);
  await createAcls(own.bootstrap, admin, regionAcls(id, principals));
  for (const peer of peers) {
    // One at a time: each is a JVM, and a local cluster's machine is busy enough.
    await addScramUsers({ name: peer.id, bootstrap: peer.kafka, dataDir: join(dir, 'kafka', peer.id), caFile: security.ca.caFile, admin: security.admin }, [security.regions.get(id)!]);
    await createAcls(peer.kafka, admin, regionAcls(peer.id, principals));
  }
}

export async function runJoin(command: JoinCommand): Promise<number> {
  const file = runningCluster(command.dir);
  const id = command.region;
  if (file.regions.some((r) => r.id === id)) throw new Error(`${id} is already a region of this cluster`);
  const preset = REGION_PRESETS[id];
  const portOf = async (name: string, fallback: number | undefined): Promise<number> => command.ports[name] ?? fallback ?? freePort();
  const port = await portOf(id, preset?.port);
  const grpcPort = await portOf(`grpc-${id}`, preset?.grpcPort);
  const kafkaPort = await portOf(`kafka-${id}`, preset?.kafkaPort);
  const controllerPort = await portOf(`kafka-${id}-controller`, preset?.kafkaControllerPort);
  await assertPortsFree([
    { port, what: `region ${id}`, override: `--port ${id}=<n>` },
    { port: grpcPort, what: `gRPC of region ${id}`, override: `--port grpc-${id}=<n>` },
    { port: kafkaPort, what: `Kafka of ${id}`, override: `--port kafka-${id}=<n>` },
    { port: controllerPort, what: `Kafka controller of ${id}`, override: `--port kafka-${id}-controller=<n>` },
  ]);
  const auth = file.auth ? await localClusterAuth(command.dir) : 'off';
  // The cluster's CA signs the new region's gRPC certificate, as `meridian up` does for the others.
  const ca = file.tls ? ensureCertificateAuthority(join(command.dir, 'tls')) : undefined;
  const grpcTls = ca ? ensureGrpcCertificate(ca, { kind: 'region', region: id }) : 'off';
  // The new region's principal (its password made now, kept beside the others') and every peer's.
  const kafkaSecurity = file.kafkaSasl && ca ? ensureKafkaSecurity(file.kafkaSasl.passwords, ca, [...file.regions.map((r) => r.id), id]) : undefined;
  const admin = file.auth?.admin;
  const plan = joinPlan(id, command.fresh, await peerMembers(file.regions, admin));
  const database = `${databasePrefix(file)}_${id.replace(/-/g, '_')}`;
  const postgres = await ensurePostgres(adminUrl());
  const kafkaDir = join(command.dir, 'kafka', id);
  if (plan.wipe) {
    await dropDatabase(database, postgres);
    rmSync(kafkaDir, { recursive: true, force: true });
    console.log(`--fresh: dropped ${id}'s database and Kafka data${plan.removedBy.length > 0 ? ` (removed from ${plan.removedBy.join(', ')}: joining anew)` : ''}`);
  }
  const { url: databaseUrl, created } = await ensureDatabase(database, postgres);
  console.log(`database ${database}: ${created ? 'created' : 'kept from the last run'}`);
  await ensureKafkaJars();
  const broker = await startKafkaBroker({
    name: `local-${id}`, dataDir: kafkaDir, brokerPort: kafkaPort, controllerPort, heapMb: 256, readyTimeoutMs: 120_000,
    ...(kafkaSecurity ? { security: brokerSecurity(kafkaSecurity, id) } : {}),
  });
  console.log(`kafka ${id}: ${broker.bootstrap}${kafkaSecurity ? ' (SASL_SSL)' : ''}`);
  const self: ClusterRegion = { id, url: `http://127.0.0.1:${port}`, kafka: broker.bootstrap, grpc: `127.0.0.1:${grpcPort}`, database };
  const all = [...file.regions, self];
  let region;
  try {
    if (kafkaSecurity) {
      await admitToKafka(command.dir, kafkaSecurity, id, broker, file.regions);
      console.log(`kafka: ${kafkaSecurity.regions.get(id)!.username} added to the brokers of ${file.regions.map((r) => r.id).join(', ')}, with its ACLs and theirs on ${id}'s`);
    }
    console.log(`region ${id}: copying every namespace from ${file.regions.map((r) => r.id).join(', ')} over gRPC, then streaming (ready once every link streams)…`);
    region = await startRegionProcess({
      region: id,
      databaseUrl,
      auth,
      port,
      grpcPort,
      kafkaBrokers: broker.bootstrap,
      kafkaSecurity: kafkaSecurity ? { caFile: kafkaSecurity.ca.caFile, user: kafkaSecurity.regions.get(id)! } : 'off',
      grpcTls,
      ...peerSettings(all, id),
      zipkinSpansUrl: `${file.zipkin}/api/v2/spans`,
      env: { ...operatorRegionSettings(process.env), MERIDIAN_JOIN: 'on' },
      logFile: join(file.logs, `region-${id}.log`),
      readyTimeoutMs: 600_000,
    });
  } catch (error) {
    await broker.stop();
    throw error;
  }
  console.log(`region ${id}: ${region.url} (ready)`);
  for (const peer of file.regions) {
    const added = await call(`${peer.url}/v1/members/${id}${plan.query}`, 'PUT', admin, { kafka: self.kafka, url: self.url, ...(self.grpc ? { grpc: self.grpc } : {}) });
    if (added.status !== 200) console.error(`region ${peer.id} did not add ${id} (${added.status}): ${JSON.stringify(added.json.error ?? added.json)}`);
    else console.log(`region ${peer.id}: consumes ${id} now`);
  }
  updateClusterFile(command.dir, (f) => ({ ...f, regions: [...f.regions.filter((r) => r.id !== id), self], pids: { ...f.pids, [JOIN_PID(id)]: process.pid, ...(region.process.pid !== undefined ? { [`region-${id}`]: region.process.pid } : {}), ...kafkaPid(broker.dataDir) } }));
  console.log(`${id} joined; Ctrl-C stops it (its data is kept); \`meridian remove ${id}\` takes it out of the cluster`);
  await new Promise<void>((resolve) => {
    // The launchers' own handlers (managed-process.ts) would SIGKILL the region and its Kafka and
    // exit at once, leaving them in cluster.json: this stop is the clean one (as `up`'s).
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.removeAllListeners(signal);
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(signal, () => resolve());
  });
  console.log(`stopping region ${id} and its Kafka…`);
  await region.stop();
  await broker.stop();
  updateClusterFile(command.dir, (f) => {
    const pids = { ...f.pids };
    for (const name of [JOIN_PID(id), `region-${id}`, `kafka-${id}`]) delete pids[name];
    return { ...f, regions: f.regions.filter((r) => r.id !== id), pids };
  });
  return 0;
}

export async function runRemove(command: RemoveCommand): Promise<number> {
  const file = runningCluster(command.dir);
  const id = command.region;
  if (!file.regions.some((r) => r.id === id)) throw new Error(`${id} is not a region of this cluster (${file.regions.map((r) => r.id).join(', ')})`);
  const admin = file.auth?.admin;
  let refused = 0;
  for (const peer of file.regions.filter((r) => r.id !== id)) {
    const answer = await call(`${peer.url}/v1/members/${id}${command.force ? '?force=true' : ''}`, 'DELETE', admin);
    if (answer.status === 200) console.log(`region ${peer.id}: removed ${id}${answer.json.warning ? ` — ${answer.json.warning}` : ''}`);
    else {
      refused++;
      console.error(`region ${peer.id}: ${answer.json.error?.code ?? answer.status}: ${answer.json.error?.message ?? JSON.stringify(answer.json)}`);
    }
  }
  if (refused > 0) {
    console.error(`${id} is still a member of ${refused} region(s): stop writes to it and retry once its links are drained, or --force`);
    return 1;
  }
  const supervisor = file.pids[JOIN_PID(id)];
  if (supervisor !== undefined && isAlive(supervisor)) {
    process.kill(supervisor, 'SIGTERM');
    console.log(`stopping region ${id} (its \`meridian join\`, pid ${supervisor})`);
  } else {
    console.log(`region ${id} still runs (\`meridian up\` started it) but no region consumes it any more; \`meridian down\` stops it with the rest`);
  }
  return 0;
}
