/**
 * `meridian join` on a cluster whose Kafka is secured (the default: SASL_SSL, a SCRAM principal
 * per region, ACLs), as a user runs it — the real program in child processes. A one-region
 * cluster starts its own secured broker (`up --detach`, the test run's Zipkin, no GSLB); a second
 * region joins it: its broker is formatted with every principal, the first region's running
 * broker gets the joiner's SCRAM user, and both get the ACLs. Writes then replicate both ways
 * through Kafka (each region reads the other's topic on the other's broker, as its own
 * principal), and no password reaches the join's output or the joined region's log.
 *
 * Then the operator commands on these two regions, as the README's walkthrough runs them (no
 * flags but --dir: addresses and the operator's TLS files come from cluster.json): `verify`
 * finds nothing; with the first region's link from the joiner paused, a write at the joiner is
 * a difference `verify` names (exit 1) and `repair` merges into the first region; `verify` is
 * clean again. Last, `remove` of the joiner: the first region lists it removed and no longer
 * runs a link from it, and its `join` stops.
 *
 * Region ids are unique to this run; the databases are dropped after.
 */
import { afterAll, describe, expect, inject, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { dropDatabase, freePort, NODE_FLAGS, readClusterFile } from '@meridian/infra-local';
import { uniqueName, waitFor } from '@meridian/testkit';
import { meridian, MERIDIAN_MAIN } from './meridian-cli.fixture.ts';

const infra = inject('infra');
const hex = randomBytes(3).toString('hex');
const [first, joiner] = [`f${hex}`, `j${hex}`] as const;
const prefix = uniqueName('sjoin');
const dir = mkdtempSync(join(tmpdir(), 'meridian-secured-join-'));
let joining: ChildProcess | undefined;

/** `meridian join …` in the foreground, as a user runs it: resolves with its output once it says the region joined; rejects if it exits first. */
function startJoin(args: readonly string[]): Promise<{ output: () => string; exited: Promise<number | null> }> {
  const child = spawn(process.execPath, [...NODE_FLAGS, MERIDIAN_MAIN, 'join', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  joining = child;
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  return new Promise((resolve, reject) => {
    const seen = (b: Buffer): void => {
      output += b.toString();
      if (output.includes(`${args[0]!} joined`)) resolve({ output: () => output, exited });
    };
    child.stdout.on('data', seen);
    child.stderr.on('data', seen);
    child.on('exit', (code) => reject(new Error(`meridian join exited (${code}) before joining:\n${output}`)));
  });
}

/** Ctrl-C to the running join: its exit code. */
async function stopJoin(): Promise<number | null> {
  const child = joining;
  if (!child || child.exitCode !== null) return child?.exitCode ?? null;
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  child.kill('SIGINT');
  return exited;
}

afterAll(async () => {
  await stopJoin();
  if (readClusterFile(dir)) await meridian('down', '--dir', dir);
  for (const id of [first, joiner]) await dropDatabase(`${prefix}_${id}`, infra.postgresUrl);
  rmSync(dir, { recursive: true, force: true });
}, 120_000);

async function http(method: 'GET' | 'PUT' | 'POST', url: string, token: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(url, { method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

describe('meridian join on a secured cluster', () => {
  it('adds the region\'s SCRAM user and ACLs to the running brokers, and the regions replicate both ways', { timeout: 480_000 }, async () => {
    const portsOf = async (id: string): Promise<string[]> => [
      '--port', `${id}=${await freePort()}`, '--port', `grpc-${id}=${await freePort()}`,
      '--port', `kafka-${id}=${await freePort()}`, '--port', `kafka-${id}-controller=${await freePort()}`,
    ];
    const up = await meridian('up', '--detach', '--dir', dir, '--regions', first, '--no-gslb', '--zipkin', infra.zipkinUrl, '--database-prefix', prefix, ...(await portsOf(first)));
    expect(up.code, up.stdout + up.stderr).toBe(0);
    const file = readClusterFile(dir)!;
    expect(file.kafkaSasl).toMatchObject({ passwords: join(dir, 'kafka-users') });
    const auth = file.auth!;
    const firstUrl = file.regions[0]!.url;
    expect((await http('PUT', `${firstUrl}/v1/namespaces/joined`, auth.writer, { policy: 'lww' })).status).toBe(201);
    expect((await http('PUT', `${firstUrl}/v1/ns/joined/keys/before`, auth.writer, { value: 'written before the join' })).status).toBe(200);

    const joined = await startJoin([joiner, '--dir', dir, ...(await portsOf(joiner))]);
    expect(joined.output()).toContain(`kafka ${joiner}: `);
    expect(joined.output()).toContain('(SASL_SSL)');
    const after = readClusterFile(dir)!;
    expect(after.regions.map((r) => r.id)).toEqual([first, joiner]);
    const joinerUrl = after.regions[1]!.url;
    const value = async (url: string, key: string): Promise<unknown> => {
      const answer = await http('GET', `${url}/v1/ns/joined/keys/${key}`, auth.reader);
      return answer.status === 200 ? answer.json['value'] : answer.status;
    };
    // Copied over gRPC at the join…
    expect(await value(joinerUrl, 'before')).toBe('written before the join');
    // …then streamed through Kafka both ways: the first region reads the joiner's topic on the
    // joiner's broker (formatted with its user), the joiner reads the first's on the first's
    // running broker (its user added by join).
    expect((await http('PUT', `${joinerUrl}/v1/ns/joined/keys/from-joiner`, auth.writer, { value: 'j' })).status).toBe(200);
    await waitFor(() => value(firstUrl, 'from-joiner'), (v) => v === 'j', { timeoutMs: 90_000, intervalMs: 500, what: 'the joiner\'s write at the first region' });
    expect((await http('PUT', `${firstUrl}/v1/ns/joined/keys/from-first`, auth.writer, { value: 'f' })).status).toBe(200);
    await waitFor(() => value(joinerUrl, 'from-first'), (v) => v === 'f', { timeoutMs: 90_000, intervalMs: 500, what: 'the first region\'s write at the joiner' });
    // The first region's broker records the joiner's user, so its next start knows it has it.
    expect(readFileSync(join(dir, 'kafka', first, 'scram-users'), 'utf8').split('\n')).toContain(`region-${joiner}`);

    const passwords = readdirSync(join(dir, 'kafka-users')).map((f) => readFileSync(join(dir, 'kafka-users', f), 'utf8').trim());
    expect(passwords).toHaveLength(3);
    const joinerLog = readFileSync(join(file.logs, `region-${joiner}.log`), 'utf8');
    for (const password of passwords) {
      expect(joined.output()).not.toContain(password);
      expect(joinerLog).not.toContain(password);
    }

    // verify and repair, addresses and TLS files from cluster.json. Not a terminal: no progress bar.
    const pair = `${first}↔${joiner}`;
    const same = `regions ${first}, ${joiner} hold the same data`;
    const clean = await meridian('verify', '--dir', dir);
    expect(clean.code, clean.stdout + clean.stderr).toBe(0);
    expect(clean.stdout).toMatch(new RegExp(`^${same} \\(\\d+ bytes exchanged\\)$`, 'm'));
    expect(clean.stderr).not.toMatch(/\r|\x1b\[| compare +\[/);
    // A write the first region has not applied (its link from the joiner paused) is a difference.
    expect((await http('POST', `${firstUrl}/v1/replication/peers/${joiner}/pause`, auth.admin)).json).toMatchObject({ state: 'paused' });
    expect((await http('PUT', `${joinerUrl}/v1/ns/joined/keys/unseen`, auth.writer, { value: 'u' })).status).toBe(200);
    const differs = await meridian('verify', '--dir', dir);
    expect(differs.code, differs.stdout + differs.stderr).toBe(1);
    expect(differs.stdout).toContain(`${pair}  joined/unseen  missing in ${first}\n`);
    expect(differs.stdout).toMatch(/^1 key\(s\) differ /m);
    expect(await value(firstUrl, 'unseen')).toBe(404);
    const repair = await meridian('repair', '--dir', dir);
    expect(repair.code, repair.stdout + repair.stderr).toBe(0);
    expect(repair.stdout).toContain(`repaired 1 key state(s); ${same}`);
    // Repaired over gRPC, the link still paused.
    expect(await value(firstUrl, 'unseen')).toBe('u');
    expect((await http('POST', `${firstUrl}/v1/replication/peers/${joiner}/resume`, auth.admin)).status).toBe(200);
    const again = await meridian('verify', '--dir', dir);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(again.stdout).toContain(same);

    // remove: once the first region's link from the joiner has applied everything (else refused).
    const members = async (): Promise<unknown> => (await http('GET', `${firstUrl}/v1/members`, auth.reader)).json['members'];
    const link = async (): Promise<{ state: string; lagSequence: number | null } | undefined> => ((await http('GET', `${firstUrl}/v1/replication`, auth.reader)).json['peers'] as Record<string, { state: string; lagSequence: number | null }>)[joiner];
    expect(await members()).toEqual([expect.objectContaining({ region: joiner, state: 'member' })]);
    await waitFor(link, (l) => l?.state === 'streaming' && l.lagSequence === 0, { timeoutMs: 30_000, intervalMs: 250, what: `the link from ${joiner} drained` });
    const removed = await meridian('remove', joiner, '--dir', dir);
    expect(removed.code, removed.stdout + removed.stderr).toBe(0);
    expect(removed.stdout).toContain(`region ${first}: removed ${joiner}\n`);
    expect(removed.stdout).toContain(`stopping region ${joiner}`);
    expect(await members()).toEqual([expect.objectContaining({ region: joiner, state: 'removed' })]);
    expect(await link()).toBeUndefined();
    // remove stopped the join (as Ctrl-C does): the region leaves cluster.json.
    expect(await Promise.race([joined.exited, new Promise((r) => setTimeout(() => r('still running'), 30_000))]), joined.output()).toBe(0);
    expect(readClusterFile(dir)!.regions.map((r) => r.id)).toEqual([first]);
    expect((await meridian('down', '--dir', dir)).code).toBe(0);
  });
});
