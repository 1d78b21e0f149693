/**
 * Real Apache Kafka brokers in KRaft mode (one combined broker+controller node per cluster),
 * started with `java` on the jars Maven fetched. Each call to `startKafkaBroker` is one
 * independent cluster, as each Meridian region has its own.
 *
 * A broker can be stopped and started again on the same data directory and ports (`restart`),
 * which is what the broker-outage scenarios need. An optional second listener advertises another
 * address (a fault proxy's), so a peer region can be made to reach this cluster through it.
 *
 * With `security` the client listener is SASL_SSL (kafka-security.ts, docs/security.md): a
 * certificate signed by the deployment's CA, SCRAM-SHA-512 users made when the storage is
 * formatted, StandardAuthorizer with nothing allowed that no ACL allows. The inter-broker listener
 * is that same listener (the broker authenticates as the super user). The controller listener
 * stays plaintext on loopback: KRaft cannot authenticate it with SCRAM (SCRAM credentials live in
 * the metadata the controller serves), so its anonymous principal is a super user — anyone with
 * a shell on this host can reach it, no one else.
 *
 * Users added after the format (a region that joins a running cluster: `addScramUsers`) go
 * through the Admin API's AlterUserScramCredentials, which kafkajs lacks: Kafka's own
 * ConfigCommand, from the same jars, as the super user.
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { ensureKafkaJars, requireTool } from './jars.ts';
import { ManagedProcess } from './managed-process.ts';
import { freePort } from './ports.ts';
import { kafkaClientSecurity, type KafkaClientSecurity, type KafkaBrokerSecurity, type ScramCredentials } from './kafka-security.ts';

const run = promisify(execFile);

export interface KafkaBrokerOptions {
  /** A label for logs and errors, e.g. the region id. */
  readonly name: string;
  /** Where the broker keeps its log and metadata; a fresh temporary directory when absent. */
  readonly dataDir?: string;
  readonly brokerPort?: number;
  readonly controllerPort?: number;
  readonly heapMb?: number;
  /** A second listener on `port` that tells clients to connect to `advertisedPort` (a proxy in front of it). */
  readonly proxiedListener?: { readonly port: number; readonly advertisedPort: number };
  readonly readyTimeoutMs?: number;
  /** SASL_SSL with SCRAM-SHA-512 users and ACLs; absent: one PLAINTEXT listener, no authorizer. */
  readonly security?: KafkaBrokerSecurity;
}

export interface KafkaBroker {
  readonly name: string;
  /** `127.0.0.1:<port>`, for the Kafka client's `brokers`. */
  readonly bootstrap: string;
  readonly brokerPort: number;
  readonly controllerPort: number;
  readonly dataDir: string;
  /** How the super user (the launcher) connects: TLS and SASL settings for kafkajs; undefined: plaintext. */
  readonly adminSecurity: KafkaClientSecurity | undefined;
  readonly running: boolean;
  /** SIGTERM and wait (a clean shutdown). */
  stop(): Promise<void>;
  /** SIGKILL and wait. */
  kill(): Promise<void>;
  /** Start again on the same ports and data, after stop() or kill(). */
  restart(): Promise<void>;
  /** Stop, and remove the data directory if this launcher created it. */
  destroy(): Promise<void>;
}

/** The file naming the SCRAM users a broker's metadata holds (its data directory's, one a line). */
const scramUsersFile = (dir: string): string => join(dir, 'scram-users');

function heldScramUsers(dir: string): Set<string> {
  const file = scramUsersFile(dir);
  return new Set(existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : []);
}

function clusterId(): string {
  // Kafka's cluster ids are 16 random bytes in unpadded base64url; one starting with '-' would
  // read as a command-line flag.
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

/** A PEM file's content on one line (a properties value): Kafka's PEM parser ignores the whitespace inside. */
const oneLine = (file: string): string => readFileSync(file, 'utf8').trim().replace(/\s*\n\s*/g, ' ');

function securityProperties(security: KafkaBrokerSecurity, listenerNames: readonly string[]): string[] {
  const admin = `org.apache.kafka.common.security.scram.ScramLoginModule required username="${security.admin.username}" password="${security.admin.password}";`;
  return [
    'sasl.enabled.mechanisms=SCRAM-SHA-512',
    'sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512',
    ...listenerNames.map((l) => `listener.name.${l.toLowerCase()}.scram-sha-512.sasl.jaas.config=${admin}`),
    'ssl.keystore.type=PEM',
    `ssl.keystore.certificate.chain=${oneLine(security.tls.certFile)}`,
    `ssl.keystore.key=${oneLine(security.tls.keyFile)}`,
    'ssl.truststore.type=PEM',
    `ssl.truststore.location=${security.tls.caFile}`,
    'ssl.client.auth=none',
    'authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer',
    // ANONYMOUS is the controller listener's principal only (the SASL_SSL listeners authenticate everyone).
    `super.users=User:${security.admin.username};User:ANONYMOUS`,
    'allow.everyone.if.no.acl.found=false',
  ];
}

function serverProperties(dir: string, brokerPort: number, controllerPort: number, proxied: KafkaBrokerOptions['proxiedListener'], security: KafkaBrokerSecurity | undefined): string {
  const client = security ? 'SASL_SSL' : 'PLAINTEXT';
  const main = security ? 'SECURE' : 'PLAINTEXT';
  const listeners = [`${main}://127.0.0.1:${brokerPort}`, `CONTROLLER://127.0.0.1:${controllerPort}`];
  const advertised = [`${main}://127.0.0.1:${brokerPort}`];
  const protocols = [`${main}:${client}`, 'CONTROLLER:PLAINTEXT'];
  if (proxied) {
    listeners.push(`PROXIED://127.0.0.1:${proxied.port}`);
    advertised.push(`PROXIED://127.0.0.1:${proxied.advertisedPort}`);
    protocols.push(`PROXIED:${client}`);
  }
  return [
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
    `listeners=${listeners.join(',')}`,
    `advertised.listeners=${advertised.join(',')}`,
    `inter.broker.listener.name=${main}`,
    'controller.listener.names=CONTROLLER',
    `listener.security.protocol.map=${protocols.join(',')}`,
    `log.dirs=${join(dir, 'data')}`,
    'offsets.topic.replication.factor=1',
    'offsets.topic.num.partitions=1',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'transaction.state.log.num.partitions=1',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    'group.initial.rebalance.delay.ms=0',
    'num.network.threads=2',
    'num.io.threads=2',
    'num.partitions=1',
    'auto.create.topics.enable=false',
    'log.cleaner.dedupe.buffer.size=2097152',
    ...(security ? securityProperties(security, [main, ...(proxied ? ['PROXIED'] : [])]) : []),
    '',
  ].join('\n');
}

const LOG4J2 = [
  'status = warn',
  'appender.out.type = Console',
  'appender.out.name = out',
  'appender.out.layout.type = PatternLayout',
  'appender.out.layout.pattern = [%d] %p %m (%c)%n',
  'rootLogger.level = warn',
  'rootLogger.appenderRef.out.ref = out',
  'logger.raft.name = kafka.server.KafkaRaftServer',
  'logger.raft.level = info',
  '',
].join('\n');

/** Whether the broker answers metadata requests (a real client round trip). */
async function answers(bootstrap: string, security: KafkaClientSecurity | undefined): Promise<boolean> {
  const admin = new Kafka({ clientId: 'meridian-ready-probe', brokers: [bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 0 }, connectionTimeout: 1000, ...security }).admin();
  try {
    await admin.connect();
    await admin.describeCluster();
    return true;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

export async function startKafkaBroker(options: KafkaBrokerOptions): Promise<KafkaBroker> {
  await requireTool('java');
  const libs = await ensureKafkaJars();
  const ownsDir = options.dataDir === undefined;
  const dir = options.dataDir ?? mkdtempSync(join(tmpdir(), `meridian-kafka-${options.name}-`));
  mkdirSync(dir, { recursive: true });
  const brokerPort = options.brokerPort ?? (await freePort());
  const controllerPort = options.controllerPort ?? (await freePort());
  const bootstrap = `127.0.0.1:${brokerPort}`;
  const props = join(dir, 'server.properties');
  const log4j = join(dir, 'log4j2.properties');
  // The properties hold the super user's password and the broker's key: its owner's only.
  writeFileSync(props, serverProperties(dir, brokerPort, controllerPort, options.proxiedListener, options.security), { mode: 0o600 });
  chmodSync(props, 0o600);
  const adminSecurity = options.security ? kafkaClientSecurity(options.security.tls.caFile, options.security.admin) : undefined;
  writeFileSync(log4j, LOG4J2);
  const classpath = `${libs}/*`;
  // C1 only (TieredStopAtLevel=1): a broker's C2 compiler keeps compiling Kafka's code for minutes
  // after start, more CPU than its request handling, which on a small machine is taken from
  // everything else. C1 is done in seconds; its code costs a little more per request, and these
  // brokers' loads are small (docs/decisions/0006).
  const jvm = [`-Xms64m`, `-Xmx${options.heapMb ?? 384}m`, '-XX:+UseG1GC', '-XX:TieredStopAtLevel=1', '-Djava.awt.headless=true', `-Dlog4j2.configurationFile=${log4j}`];

  // Which SCRAM users the metadata holds: those it was formatted with and any added since.
  const wanted = options.security ? [options.security.admin, ...options.security.users] : [];
  let missing: readonly ScramCredentials[] = [];
  if (existsSync(join(dir, 'data', 'meta.properties'))) {
    const held = heldScramUsers(dir);
    missing = wanted.filter((u) => !held.has(u.username));
    // Without its super user the broker cannot answer the launcher (nor itself, inter-broker): only
    // the other users can be added once it runs.
    if (options.security && missing.some((u) => u.username === options.security?.admin.username)) {
      throw new Error(`kafka[${options.name}]: its data (${dir}) was formatted without the SCRAM super user ${options.security.admin.username}, which SASL_SSL needs: start it fresh (meridian up --fresh wipes the data) or without security (--no-tls)`);
    }
  } else {
    try {
      // SCRAM credentials live in the cluster's metadata; these are written into it at format time
      // (later users: kafka-security.ts). The passwords are in this command's arguments for as
      // long as it runs, visible to this host's users: the same ones who can read the controller.
      const scram = options.security ? [options.security.admin, ...options.security.users].flatMap((u) => ['--add-scram', `SCRAM-SHA-512=[name=${u.username},password=${u.password}]`]) : [];
      await run('java', [...jvm, '-cp', classpath, 'kafka.tools.StorageTool', 'format', '-t', clusterId(), '-c', props, '-g', ...scram]);
      writeFileSync(scramUsersFile(dir), wanted.map((u) => `${u.username}\n`).join(''));
    } catch (error) {
      const e = error as { stderr?: string; message: string };
      // The message repeats the command line, passwords included: only stderr's own words are kept.
      throw new Error(`formatting Kafka storage for ${options.name} failed: ${e.stderr ?? 'the storage tool exited with an error'}`);
    }
  }

  let proc: ManagedProcess | undefined;
  const launch = async (): Promise<void> => {
    proc = new ManagedProcess({
      name: `kafka[${options.name}]`,
      command: 'java',
      args: [...jvm, '-cp', classpath, 'kafka.Kafka', props],
      logFile: join(dir, 'broker.log'),
    });
    await proc.waitUntil(() => answers(bootstrap, adminSecurity), options.readyTimeoutMs ?? 180_000, `ready on ${bootstrap}`);
  };
  try {
    await launch();
    if (options.security && missing.length > 0) await addScramUsers({ name: options.name, bootstrap, dataDir: dir, caFile: options.security.tls.caFile, admin: options.security.admin }, missing);
  } catch (error) {
    await proc?.stop();
    if (ownsDir) rmSync(dir, { recursive: true, force: true });
    throw error;
  }

  return {
    name: options.name,
    bootstrap,
    brokerPort,
    controllerPort,
    dataDir: dir,
    adminSecurity,
    get running() {
      return proc?.running ?? false;
    },
    stop: async () => proc?.stop(),
    kill: async () => proc?.kill(),
    restart: async () => {
      if (proc?.running) throw new Error(`kafka[${options.name}] is still running`);
      await launch();
    },
    destroy: async () => {
      await proc?.stop();
      if (ownsDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A running SASL_SSL broker, reached as its super user. */
export interface ScramTarget {
  /** A label for errors, e.g. the region id. */
  readonly name: string;
  readonly bootstrap: string;
  /** Its data directory, when it is this host's: the users added are recorded there (startKafkaBroker reads them). */
  readonly dataDir: string | undefined;
  /** PEM file of the CA that signed the broker's certificate. */
  readonly caFile: string;
  readonly admin: ScramCredentials;
}

/**
 * Creates (or sets the password of) each of `users` on the running broker `target`: Kafka's
 * ConfigCommand (`--alter --entity-type users`, AlterUserScramCredentials) as the super user.
 * No password is on a command line or in a message: the client settings and each credential are
 * in 0600 files of a private temporary directory, removed after.
 */
export async function addScramUsers(target: ScramTarget, users: readonly ScramCredentials[]): Promise<void> {
  if (users.length === 0) return;
  const libs = await ensureKafkaJars();
  const work = mkdtempSync(join(tmpdir(), 'meridian-scram-'));
  const secrets = [target.admin.password, ...users.map((u) => u.password)];
  try {
    const client = join(work, 'admin-client.properties');
    writeFileSync(client, [
      'security.protocol=SASL_SSL',
      'sasl.mechanism=SCRAM-SHA-512',
      `sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="${target.admin.username}" password="${target.admin.password}";`,
      'ssl.truststore.type=PEM',
      `ssl.truststore.location=${target.caFile}`,
      '',
    ].join('\n'), { mode: 0o600 });
    for (const user of users) {
      const credential = join(work, 'credential.properties');
      // A properties file: ConfigCommand reads `mechanism=password=…` (no brackets, unlike --add-config).
      writeFileSync(credential, `SCRAM-SHA-512=password=${user.password}\n`, { mode: 0o600 });
      try {
        await run('java', ['-Xmx128m', '-XX:TieredStopAtLevel=1', '-XX:+UseSerialGC', '-cp', `${libs}/*`, 'kafka.admin.ConfigCommand',
          '--bootstrap-server', target.bootstrap, '--command-config', client,
          '--alter', '--add-config-file', credential, '--entity-type', 'users', '--entity-name', user.username]);
      } catch (error) {
        const e = error as { stderr?: string; stdout?: string };
        const said = secrets.reduce((text, secret) => text.split(secret).join('<password>'), `${e.stderr ?? ''}${e.stdout ?? ''}`.trim());
        throw new Error(`adding the SCRAM user ${user.username} to kafka[${target.name}] (${target.bootstrap}) failed: ${said || 'ConfigCommand exited with an error'}`);
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  if (target.dataDir !== undefined && existsSync(target.dataDir)) {
    const held = heldScramUsers(target.dataDir);
    for (const user of users) held.add(user.username);
    writeFileSync(scramUsersFile(target.dataDir), [...held].map((u) => `${u}\n`).join(''));
  }
}
