/**
 * main.ts as a program: it refuses a bad configuration with every problem and exit code 2,
 * prints its settings with --help, serves with a good one, and drains on SIGTERM and SIGINT
 * (exit 0).
 */
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { waitFor } from '@meridian/testkit';
import { freePort } from '@meridian/infra-local';

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));

function run(env: Record<string, string>, args: string[] = []) {
  const child = spawn(process.execPath, ['--conditions=meridian-source', MAIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  return { child, exited, output: () => output };
}

describe('meridian-gslb program', () => {
  it('lists every configuration problem and exits 2', async () => {
    const p = run({ MERIDIAN_GSLB_REGIONS: 'eu=http://x@1', MERIDIAN_GSLB_PORT: 'eighty' });
    expect(await p.exited).toBe(2);
    expect(p.output()).toContain('MERIDIAN_GSLB_REGIONS: expected lat,lon');
    expect(p.output()).toContain('MERIDIAN_GSLB_PORT: expected an integer from 0 to 65535 (got "eighty")');
  });

  it('prints every setting with --help', async () => {
    const p = run({}, ['--help']);
    expect(await p.exited).toBe(0);
    for (const env of ['MERIDIAN_GSLB_REGIONS', 'MERIDIAN_GSLB_LOCATIONS', 'MERIDIAN_GSLB_FAILURES_TO_DOWN']) expect(p.output()).toContain(env);
  });

  it.each(['SIGTERM', 'SIGINT'] as const)('serves, routes, and drains on %s with exit 0', async (signal) => {
    const region = createServer((req, res) => res.writeHead(req.url === '/health/ready' ? 200 : 404).end('{}'));
    await new Promise<void>((resolve) => region.listen(0, '127.0.0.1', resolve));
    const regionPort = (region.address() as { port: number }).port;
    const port = await freePort();
    const p = run({
      MERIDIAN_GSLB_REGIONS: `eu=http://127.0.0.1:${regionPort}@50.1,8.7`,
      MERIDIAN_GSLB_PORT: String(port),
      MERIDIAN_GSLB_PROBE_INTERVAL_MS: '100',
      MERIDIAN_GSLB_PROBE_TIMEOUT_MS: '100',
      MERIDIAN_GSLB_LOG_LEVEL: 'warn',
    });
    try {
      await waitFor(() => fetch(`http://127.0.0.1:${port}/health/ready`).then((r) => r.status), (s) => s === 200, { what: `the GSLB to be ready; output: ${p.output()}`, timeoutMs: 20_000 });
      // Ready is the GSLB's own state; the region is routed to once its probes say it is up (a
      // first probe slower than the 100 ms timeout, on a busy machine, makes it down first and
      // then recovering for a few intervals).
      const answer = await waitFor(
        async () => (await (await fetch(`http://127.0.0.1:${port}/v1/route`)).json()) as { chosen?: { id: string } },
        (a) => a.chosen !== undefined,
        { what: `a route to eu; output: ${p.output()}`, timeoutMs: 20_000 },
      );
      expect(answer.chosen?.id).toBe('eu');
      p.child.kill(signal);
      expect(await p.exited).toBe(0);
    } finally {
      p.child.kill('SIGKILL');
      region.closeAllConnections();
      region.close();
    }
  });
});
