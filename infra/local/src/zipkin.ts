/**
 * A real Zipkin server (in-memory storage) from Maven Central's exec jar: the tracing backend
 * that tests query through Zipkin's HTTP API to find conflicts and the writes that caused them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureZipkinJar, requireTool } from './jars.ts';
import { ManagedProcess } from './managed-process.ts';
import { freePort } from './ports.ts';

export interface ZipkinServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** Where OpenTelemetry's Zipkin exporter posts spans. */
  readonly spansEndpoint: string;
  readonly port: number;
  stop(): Promise<void>;
}

export async function startZipkin(options: { readonly port?: number; readonly logDir?: string; readonly readyTimeoutMs?: number } = {}): Promise<ZipkinServer> {
  await requireTool('java');
  const jar = await ensureZipkinJar();
  const port = options.port ?? (await freePort());
  const url = `http://127.0.0.1:${port}`;
  const logDir = options.logDir ?? mkdtempSync(join(tmpdir(), 'meridian-zipkin-'));
  const proc = new ManagedProcess({
    name: 'zipkin',
    command: 'java',
    args: ['-Xms32m', '-Xmx256m', '-Djava.awt.headless=true', '-jar', jar],
    env: { ...process.env, STORAGE_TYPE: 'mem', QUERY_PORT: String(port), SELF_TRACING_ENABLED: 'false', COLLECTOR_SCRIBE_ENABLED: 'false' },
    logFile: join(logDir, 'zipkin.log'),
  });
  const stop = async (): Promise<void> => {
    await proc.stop();
    if (options.logDir === undefined) rmSync(logDir, { recursive: true, force: true });
  };
  try {
    await proc.waitUntil(async () => (await fetch(`${url}/health`)).ok, options.readyTimeoutMs ?? 240_000, `healthy at ${url}`);
  } catch (error) {
    await proc.stop();
    throw error;
  }
  return { url, spansEndpoint: `${url}/api/v2/spans`, port, stop };
}
