/**
 * `npm run infra:fetch`: fetch the Kafka and Zipkin jars into the cache (CI runs it before the
 * tests, so that the first test does not pay for Maven), and report where they are.
 */
import { ensureKafkaJars, ensureZipkinJar } from './jars.ts';
import { ensurePostgres } from './postgres.ts';

const command = process.argv[2];
const started = Date.now();
if (command === 'fetch') {
  const kafka = await ensureKafkaJars();
  const zipkin = await ensureZipkinJar();
  console.log(`kafka jars: ${kafka}\nzipkin jar: ${zipkin}\n(${Date.now() - started} ms)`);
} else if (command === 'postgres') {
  await ensurePostgres();
  console.log('postgres: answering');
} else {
  console.error('usage: cli.ts fetch | postgres');
  process.exit(2);
}
