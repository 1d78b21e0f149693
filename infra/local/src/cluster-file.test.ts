/** cluster.json: what is written reads back equal; a damaged file is refused naming the field. */
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clusterFilePath, parseClusterFile, readClusterFile, removeClusterFile, writeClusterFile, type ClusterFile } from './cluster-file.ts';

const dir = mkdtempSync(join(tmpdir(), 'meridian-cluster-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const file: ClusterFile = {
  regions: [
    { id: 'eu', url: 'http://127.0.0.1:8081', kafka: '127.0.0.1:19092', database: 'meridian_local_eu' },
    { id: 'us', url: 'http://127.0.0.1:8082', kafka: '127.0.0.1:29092', database: 'meridian_local_us' },
  ],
  gslb: 'http://127.0.0.1:8080',
  zipkin: 'http://127.0.0.1:9411',
  pids: { supervisor: 10, 'region-eu': 11, 'kafka-eu': 12 },
  detached: true,
  startedAt: '2026-11-22T21:00:00.000Z',
  logs: '/somewhere/logs',
  auth: { admin: 'a.b.c', writer: 'd.e.f', reader: 'g.h.i' },
  tls: { ca: '/somewhere/tls/ca.pem', cert: '/somewhere/tls/grpc-operator.pem', key: '/somewhere/tls/grpc-operator-key.pem' },
  kafkaSasl: { ca: '/somewhere/tls/ca.pem', passwords: '/somewhere/kafka-users' },
};

describe('cluster.json', () => {
  it('writes atomically and reads back what was written; none once removed', () => {
    expect(readClusterFile(dir)).toBeUndefined();
    writeClusterFile(dir, file);
    expect(readdirSync(dir)).toEqual(['cluster.json']); // no staging file left
    expect(readClusterFile(dir)).toEqual(file);
    // It carries the tokens: its owner's only.
    expect(statSync(clusterFilePath(dir)).mode & 0o077).toBe(0);
    writeClusterFile(dir, { ...file, gslb: null, auth: null, tls: null, kafkaSasl: null });
    expect(readClusterFile(dir)?.gslb).toBeNull();
    expect(readClusterFile(dir)?.auth).toBeNull();
    expect(readClusterFile(dir)?.tls).toBeNull();
    expect(readClusterFile(dir)?.kafkaSasl).toBeNull();
    removeClusterFile(dir);
    expect(existsSync(clusterFilePath(dir))).toBe(false);
    removeClusterFile(dir); // idempotent
  });

  it.each([
    ['{', /not JSON/],
    ['[]', /expected an object/],
    [JSON.stringify({ ...file, regions: [] }), /expected "regions" to be a non-empty list \(got \[\]\)/],
    [JSON.stringify({ ...file, regions: [{ id: 'eu', url: 'u', kafka: 'k' }] }), /regions\[0\]: expected "database" to be a database name \(got nothing\)/],
    [JSON.stringify({ ...file, pids: { 'region-eu': 3 } }), /expected pids.supervisor/],
    [JSON.stringify({ ...file, pids: { supervisor: -1 } }), /expected pids.supervisor to be a pid \(got -1\)/],
    [JSON.stringify({ ...file, gslb: 5 }), /expected "gslb" to be a URL or null \(got 5\)/],
    [JSON.stringify({ ...file, detached: 'yes' }), /expected "detached" to be true or false/],
    [JSON.stringify({ ...file, auth: { admin: 'a', writer: 'w' } }), /auth: expected "reader" to be a token/],
  ])('refuses %s', (text, message) => {
    expect(() => parseClusterFile(text)).toThrow(message);
  });

  it('names the file in the error when reading one', () => {
    writeFileSync(clusterFilePath(dir), '{}');
    expect(() => readClusterFile(dir)).toThrow(clusterFilePath(dir));
    removeClusterFile(dir);
  });
});
