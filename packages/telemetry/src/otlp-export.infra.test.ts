/**
 * The default exporter, OTLP over http/protobuf, against a local receiver standing in for a
 * collector (Jaeger, Tempo): the request goes to the default path when the endpoint has none,
 * with the protobuf content type, and carries the span, its attributes and the resource.
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpanAttribute, SpanName } from './span-names.ts';
import { withSpan } from './spans.ts';
import { startTelemetry } from './start-telemetry.ts';

interface Received {
  readonly method: string | undefined;
  readonly url: string | undefined;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

const received: Received[] = [];
const receiver = createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    received.push({ method: request.method, url: request.url, headers: request.headers, body: Buffer.concat(chunks) });
    response.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
  });
});
let endpoint: string;

beforeAll(async () => {
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((resolve) => receiver.close(() => resolve()));
});

describe('OTLP export', () => {
  it('posts the spans as protobuf to /v1/traces on shutdown', async () => {
    const telemetry = startTelemetry({ serviceName: 'meridian-otlp-test', region: 'us', traces: { endpoint, sampleRatio: undefined } });
    expect(telemetry.config.traces.exporter).toBe('otlp');
    withSpan(SpanName.write, { [SpanAttribute.key]: 'otlp-key-1' }, () => undefined);
    await telemetry.shutdown();

    expect(received).toHaveLength(1);
    const [request] = received;
    expect(request?.method).toBe('POST');
    expect(request?.url).toBe('/v1/traces');
    expect(request?.headers['content-type']).toBe('application/x-protobuf');
    // Protobuf keeps strings as raw UTF-8: the span, its attribute and the resource are all there.
    const body = request!.body.toString('latin1');
    for (const text of [SpanName.write, 'meridian.key', 'otlp-key-1', 'meridian-otlp-test', 'meridian.region']) expect(body).toContain(text);
  });
});
