/**
 * `meridian up --detach`, `status`, `lag`, `down` as a user runs them — the real program in child
 * processes — for a one-region cluster with the GSLB, on the test run's Kafka and Zipkin (given
 * with --kafka and --zipkin, so no broker is started here), a database prefix of its own and
 * free ports. Also: a second `up` is refused while one runs, the data survives `down` and `up`,
 * and `--fresh` starts empty.
 *
 * The region id is unique to this run: a region publishes to `meridian.<region>.updates` on its
 * Kafka, and the scenario tests share these brokers.
 */
import { afterAll, describe, expect, inject, it } from 'vitest';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { dropDatabase, freePort, isAlive, readClusterFile } from '@meridian/infra-local';
import { uniqueName, waitFor } from '@meridian/testkit';
import { meridian } from './meridian-cli.fixture.ts';

const infra = inject('infra');
const region = `t${randomBytes(4).toString('hex')}`;
const prefix = uniqueName('cli');
const dir = mkdtempSync(join(tmpdir(), 'meridian-cli-'));

afterAll(async () => {
  if (readClusterFile(dir)) await meridian('down', '--dir', dir);
  await dropDatabase(`${prefix}_${region}`, infra.postgresUrl);
  rmSync(dir, { recursive: true, force: true });
});

async function http(method: 'GET' | 'PUT', url: string, body?: unknown, token?: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const headers = { ...(token === undefined ? {} : { authorization: `Bearer ${token}` }), ...(body === undefined ? {} : { 'content-type': 'application/json' }) };
  const response = await fetch(url, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

describe('meridian up --detach / status / down', () => {
  it('runs a cluster in the background, reports it, stops it, keeps its data, and starts fresh on request', { timeout: 240_000 }, async () => {
    const [regionPort, grpcPort, gslbPort] = [await freePort(), await freePort(), await freePort()];
    const cluster = [
      '--dir', dir, '--regions', region, '--kafka', `${region}=${infra.kafka[0]}`, '--zipkin', infra.zipkinUrl,
      '--database-prefix', prefix, '--port', `${region}=${regionPort}`, '--port', `grpc-${region}=${grpcPort}`, '--port', `gslb=${gslbPort}`, '--location', `${region}=50.11,8.68`,
    ];
    const regionUrl = `http://127.0.0.1:${regionPort}`;

    expect(await meridian('status', '--dir', dir)).toMatchObject({ code: 1, stderr: expect.stringContaining('no cluster is running') as unknown });

    const up = await meridian('up', '--detach', ...cluster);
    expect(up.code, up.stdout + up.stderr).toBe(0);
    expect(up.stdout).toContain(`database ${prefix}_${region}: created`);
    expect(up.stdout).toContain(`region ${region}  ${regionUrl}`);
    expect(up.stdout).toContain('Stop it with `npm run meridian -- down`');

    const file = readClusterFile(dir)!;
    expect(file).toMatchObject({
      regions: [{ id: region, url: regionUrl, kafka: infra.kafka[0], database: `${prefix}_${region}` }],
      gslb: `http://127.0.0.1:${gslbPort}`,
      zipkin: infra.zipkinUrl,
      detached: true,
    });
    const pids = Object.values(file.pids);
    expect(Object.keys(file.pids).sort()).toEqual(['gslb', `region-${region}`, 'supervisor']);
    for (const pid of pids) expect(isAlive(pid)).toBe(true);

    // The cluster is secured: its tokens are in cluster.json, its key under <dir>/auth (owner only).
    const auth = file.auth!;
    expect(statSync(join(dir, 'auth', 'signing-key.pem')).mode & 0o077).toBe(0);
    expect(up.stdout).not.toContain(auth.admin);
    expect((await http('PUT', `${regionUrl}/v1/namespaces/lifecycle`, { policy: 'lww' })).status).toBe(401);
    expect((await http('PUT', `${regionUrl}/v1/namespaces/lifecycle`, { policy: 'lww' }, auth.reader)).status).toBe(403);
    // The cluster works, and the GSLB routes to its only region.
    expect((await http('PUT', `${regionUrl}/v1/namespaces/lifecycle`, { policy: 'lww' }, auth.writer)).status).toBe(201);
    expect((await http('PUT', `${regionUrl}/v1/ns/lifecycle/keys/k`, { value: 'kept' }, auth.writer)).status).toBe(200);
    // Once the GSLB has probed it up (a first probe that times out on a loaded machine counts it
    // down until R good ones: the GSLB is ready, the region not yet routable).
    const route = await waitFor(() => http('GET', `${file.gslb!}/v1/route?near=50.1,8.7`), (r) => r.status === 200, { timeoutMs: 30_000, intervalMs: 250, what: 'the GSLB to route to the region' });
    expect(route.json).toMatchObject({ chosen: { id: region, url: regionUrl } });

    const again = await meridian('up', '--detach', ...cluster);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`already running from ${dir} (supervisor pid ${file.pids['supervisor']})`);

    const status = await meridian('status', '--dir', dir);
    expect(status.code, status.stdout + status.stderr).toBe(0);
    expect(status.stdout).toMatch(new RegExp(`^${region}\\s+ready\\s+${regionUrl}\\s+no peers$`, 'm'));
    expect(status.stdout).toMatch(new RegExp(`^gslb\\s+ready\\s+${file.gslb!}$`, 'm'));
    const json = JSON.parse((await meridian('status', '--dir', dir, '--json')).stdout) as { regions: { id: string; health: { kind: string }; replication: { peers?: object } }[] };
    expect(json.regions).toEqual([expect.objectContaining({ id: region, health: { kind: 'ready' }, replication: { applied: expect.any(Object) as unknown, peers: {} } })]);
    const lag = await meridian('lag', '--dir', dir);
    expect(lag.code).toBe(0);
    expect(lag.stdout).toMatch(new RegExp(`^${region}\\s+·$`, 'm'));

    const down = await meridian('down', '--dir', dir);
    expect(down).toMatchObject({ code: 0, stdout: `stopping the cluster (supervisor pid ${file.pids['supervisor']})…\nstopped\n` });
    expect(readClusterFile(dir)).toBeUndefined();
    for (const pid of pids) expect(isAlive(pid)).toBe(false);
    expect(await meridian('down', '--dir', dir)).toMatchObject({ code: 0, stdout: expect.stringContaining('no cluster is running') as unknown });

    // The database outlives the cluster…
    const up2 = await meridian('up', '--detach', ...cluster);
    expect(up2.code, up2.stdout + up2.stderr).toBe(0);
    expect(up2.stdout).toContain(`database ${prefix}_${region}: kept from the last run`);
    // The signing key is kept too: the first run's tokens still work.
    expect(await http('GET', `${regionUrl}/v1/ns/lifecycle/keys/k`, undefined, auth.reader)).toMatchObject({ status: 200, json: { value: 'kept' } });
    expect((await meridian('down', '--dir', dir)).code).toBe(0);

    // …unless asked otherwise.
    const fresh = await meridian('up', '--detach', '--fresh', ...cluster);
    expect(fresh.code, fresh.stdout + fresh.stderr).toBe(0);
    expect(fresh.stdout).toContain(`database ${prefix}_${region}: created`);
    expect((await http('GET', `${regionUrl}/v1/ns/lifecycle/keys/k`, undefined, auth.reader)).status).toBe(404);
    expect((await meridian('down', '--dir', dir)).code).toBe(0);
    expect(readClusterFile(dir)).toBeUndefined();
  });
});
