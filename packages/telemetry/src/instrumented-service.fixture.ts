/**
 * A service entry module shaped the way the README tells Meridian's services to be, run as its
 * own Node process by `instrumentations.infra.test.ts`: it imports nothing but telemetry, starts
 * it, and only then `import()`s the application, whose static imports of fastify, pg and kafkajs
 * are therefore seen by the instrumentations. (Inside vitest this cannot be shown: vitest imports
 * packages by file path, and import-in-the-middle only recognises a package imported by name.)
 *
 * Usage: node --conditions=meridian-source instrumented-service.fixture.ts <kafka> <postgresUrl> <topic>
 * Prints one JSON line: what the app observed and every finished span.
 */
import { startTelemetry } from './start-telemetry.ts';

const telemetry = startTelemetry({ serviceName: 'meridian-fixture', region: 'eu', traces: { exporter: 'memory' } });
const { runApp } = await import('./instrumented-app.fixture.ts');
const [kafka = '', postgresUrl = '', topic = ''] = process.argv.slice(2);
const observed = await runApp({ kafka, postgresUrl, topic });
const spans = telemetry.memoryExporter!.getFinishedSpans().map((s) => ({
  name: s.name,
  kind: s.kind,
  traceId: s.spanContext().traceId,
  spanId: s.spanContext().spanId,
  parentSpanId: s.parentSpanContext?.spanId,
  attributes: s.attributes,
}));
await telemetry.shutdown();
process.stdout.write(`${JSON.stringify({ observed, spans })}\n`);
