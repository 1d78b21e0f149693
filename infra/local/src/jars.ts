/**
 * Fetches the Apache Kafka broker's jars and Zipkin's server jar from Maven Central with Maven,
 * into the cache. Idempotent: a complete cache (marked by a stamp file naming the versions) is
 * reused without running Maven.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { cacheDir, mavenDir } from './paths.ts';

const run = promisify(execFile);

export const KAFKA_VERSION = '4.1.1';
export const ZIPKIN_VERSION = '3.5.1';

/** Throws an error naming the missing tool when `java` or `mvn` is not on PATH. */
export async function requireTool(tool: 'java' | 'mvn'): Promise<void> {
  try {
    await run(tool, ['-version']);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new Error(
        `${tool} is not on PATH: Meridian's local Kafka and Zipkin need Java 17+ and Maven 3.8+ ` +
          `(Debian: apt-get install openjdk-17-jre-headless maven)`,
      );
    }
    // `mvn -version` and `java -version` exit 0; anything else still means the tool exists.
  }
}

async function mvn(args: string[]): Promise<void> {
  try {
    await run('mvn', ['-B', '-q', ...args], { maxBuffer: 16 * 1024 * 1024 });
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`maven failed (${args.join(' ')}):\n${e.stdout ?? ''}${e.stderr ?? e.message}`);
  }
}

/**
 * Fills `dir` once: Maven writes into a private temporary directory that is renamed into place
 * when complete, so concurrent callers (in this process or another) never see a half-filled
 * cache, and a cache that exists is complete.
 */
async function fillOnce(dir: string, fill: (into: string) => Promise<void>): Promise<string> {
  if (existsSync(dir)) return dir;
  await requireTool('java');
  await requireTool('mvn');
  const staging = `${dir}.partial-${process.pid}-${Date.now()}`;
  mkdirSync(staging, { recursive: true });
  try {
    await fill(staging);
    if (!existsSync(dir)) renameSync(staging, dir);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  return dir;
}

const inFlight = new Map<string, Promise<string>>();

function singleFlight(key: string, work: () => Promise<string>): Promise<string> {
  let p = inFlight.get(key);
  if (!p) {
    p = work().finally(() => inFlight.delete(key));
    inFlight.set(key, p);
  }
  return p;
}

/** Returns the directory holding every jar of the Kafka broker (a classpath `dir/*`). */
export function ensureKafkaJars(): Promise<string> {
  const dir = join(cacheDir(), `kafka-${KAFKA_VERSION}-libs`);
  return singleFlight(dir, () =>
    fillOnce(dir, async (into) => {
      await mvn([
        '-f', join(mavenDir, 'kafka-pom.xml'),
        `-Dkafka.version=${KAFKA_VERSION}`,
        'org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies',
        '-DincludeScope=runtime',
        `-DoutputDirectory=${into}`,
      ]);
      if (!readdirSync(into).some((f) => f.startsWith(`kafka_2.13-${KAFKA_VERSION}`))) {
        throw new Error(`maven finished but fetched no kafka_2.13-${KAFKA_VERSION} jar`);
      }
    }),
  );
}

/** Returns the path of Zipkin's executable server jar. */
export async function ensureZipkinJar(): Promise<string> {
  const dir = join(cacheDir(), `zipkin-${ZIPKIN_VERSION}`);
  const jarName = `zipkin-server-${ZIPKIN_VERSION}-exec.jar`;
  await singleFlight(dir, () =>
    fillOnce(dir, async (into) => {
      await mvn([
        '-f', join(mavenDir, 'kafka-pom.xml'),
        'org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy',
        `-Dartifact=io.zipkin:zipkin-server:${ZIPKIN_VERSION}:jar:exec`,
        `-DoutputDirectory=${into}`,
      ]);
      if (!existsSync(join(into, jarName))) throw new Error(`maven finished but fetched no ${jarName}`);
    }),
  );
  return join(dir, jarName);
}
