/**
 * Real Apache Kafka brokers in KRaft mode (one combined broker+controller node per cluster),
 * started with `java` on the jars Maven fetched. Each call to `startKafkaBroker` is one
 * independent cluster, as each Meridian region has its own.
 *
 * A broker can be stopped and started again on the same data directory and ports (`restart`),
 * which is what the broker-outage scenarios need. An optional second listener advertises another
 * address (a fault proxy's), so a peer region can be made to reach this cluster through it.
 */
import { mkdirSync, mkdtempSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { ensureKafkaJars, requireTool } from './jars.ts';
import { ManagedProcess } from './managed-process.ts';
import { freePort } from './ports.ts';

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
}

export interface KafkaBroker {
  readonly name: string;
  /** `127.0.0.1:<port>`, for the Kafka client's `brokers`. */
  readonly bootstrap: string;
  readonly brokerPort: number;
  readonly controllerPort: number;
  readonly dataDir: string;
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

function clusterId(): string {
  // Kafka's cluster ids are 16 random bytes in unpadded base64url; one starting with '-' would
  // read as a command-line flag.
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

function serverProperties(dir: string, brokerPort: number, controllerPort: number, proxied: KafkaBrokerOptions['proxiedListener']): string {
  const listeners = [`PLAINTEXT://127.0.0.1:${brokerPort}`, `CONTROLLER://127.0.0.1:${controllerPort}`];
  const advertised = [`PLAINTEXT://127.0.0.1:${brokerPort}`];
  const protocols = ['PLAINTEXT:PLAINTEXT', 'CONTROLLER:PLAINTEXT'];
  if (proxied) {
    listeners.push(`PROXIED://127.0.0.1:${proxied.port}`);
    advertised.push(`PROXIED://127.0.0.1:${proxied.advertisedPort}`);
    protocols.push('PROXIED:PLAINTEXT');
  }
  return [
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
    `listeners=${listeners.join(',')}`,
    `advertised.listeners=${advertised.join(',')}`,
    'inter.broker.listener.name=PLAINTEXT',
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
async function answers(bootstrap: string): Promise<boolean> {
  const admin = new Kafka({ clientId: 'meridian-ready-probe', brokers: [bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 0 }, connectionTimeout: 1000 }).admin();
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
  writeFileSync(props, serverProperties(dir, brokerPort, controllerPort, options.proxiedListener));
  writeFileSync(log4j, LOG4J2);
  const classpath = `${libs}/*`;
  // C1 only (TieredStopAtLevel=1): a broker's C2 compiler keeps compiling Kafka's code for minutes
  // after start, more CPU than its request handling, which on a small machine is taken from
  // everything else. C1 is done in seconds; its code costs a little more per request, and these
  // brokers' loads are small (docs/decisions/0006).
  const jvm = [`-Xms64m`, `-Xmx${options.heapMb ?? 384}m`, '-XX:+UseG1GC', '-XX:TieredStopAtLevel=1', '-Djava.awt.headless=true', `-Dlog4j2.configurationFile=${log4j}`];

  if (!existsSync(join(dir, 'data', 'meta.properties'))) {
    try {
      await run('java', [...jvm, '-cp', classpath, 'kafka.tools.StorageTool', 'format', '-t', clusterId(), '-c', props, '-g']);
    } catch (error) {
      const e = error as { stderr?: string; message: string };
      throw new Error(`formatting Kafka storage for ${options.name} failed: ${e.stderr ?? e.message}`);
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
    await proc.waitUntil(() => answers(bootstrap), options.readyTimeoutMs ?? 180_000, `ready on ${bootstrap}`);
  };
  try {
    await launch();
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
