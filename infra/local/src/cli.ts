/**
 * The infrastructure command line:
 * - `fetch`: fetch the Kafka and Zipkin jars into the cache (CI runs it before the tests, so
 *   that the first test does not pay for Maven), and report where they are;
 * - `postgres`: make sure the shared PostgreSQL answers;
 * - `up`: start three Kafka clusters and Zipkin in the foreground, print their addresses, and
 *   stop them all on Ctrl-C.
 */
import { ensureKafkaJars, ensureZipkinJar } from './jars.ts';
import { ensurePostgres } from './postgres.ts';
import { startKafkaBroker } from './kafka.ts';
import { startZipkin } from './zipkin.ts';

const command = process.argv[2];
const started = Date.now();
if (command === 'fetch') {
  const kafka = await ensureKafkaJars();
  const zipkin = await ensureZipkinJar();
  console.log(`kafka jars: ${kafka}\nzipkin jar: ${zipkin}\n(${Date.now() - started} ms)`);
} else if (command === 'postgres') {
  await ensurePostgres();
  console.log('postgres: answering');
} else if (command === 'up') {
  await ensurePostgres();
  console.log('starting three Kafka clusters and Zipkin…');
  const [zipkin, ...brokers] = await Promise.all([startZipkin(), ...['eu', 'us', 'ap'].map((name) => startKafkaBroker({ name }))]);
  for (const b of brokers) console.log(`kafka ${b.name}: ${b.bootstrap}`);
  console.log(`zipkin: ${zipkin.url}\nready in ${Date.now() - started} ms; Ctrl-C stops everything`);
  const shutdown = async (): Promise<void> => {
    console.log('stopping…');
    await Promise.all([zipkin.stop(), ...brokers.map((b) => b.destroy())]);
    process.exit(0);
  };
  process.removeAllListeners('SIGINT');
  process.removeAllListeners('SIGTERM');
  process.once('SIGINT', () => void shutdown());
  process.once('SIGTERM', () => void shutdown());
} else {
  console.error('usage: cli.ts fetch | postgres | up');
  process.exit(2);
}
