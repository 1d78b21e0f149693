/** What `meridian up` prints: every address, and the walkthrough — the same one the README shows for the default ports. */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPOSITORY_ROOT, type ClusterFile } from '@meridian/infra-local';
import { formatWalkthrough, walkthroughCommands } from './walkthrough.ts';

const region = (id: string, port: number, kafka: number) => ({ id, url: `http://127.0.0.1:${port}`, kafka: `127.0.0.1:${kafka}`, database: `meridian_local_${id}`, grpc: `127.0.0.1:${port + 10_000}` });
const defaults: ClusterFile = {
  regions: [region('eu', 8081, 19092), region('us', 8082, 29092), region('ap', 8083, 39092)],
  gslb: 'http://127.0.0.1:8080',
  zipkin: 'http://127.0.0.1:9411',
  pids: { supervisor: 1 },
  detached: false,
  startedAt: '2026-11-22T21:00:00.000Z',
  logs: '/repo/.meridian/logs',
  auth: { admin: 'admin.token.x', writer: 'writer.token.x', reader: 'reader.token.x' },
};

describe('the walkthrough', () => {
  it('is the one in the README, for the default ports', () => {
    const readme = readFileSync(join(REPOSITORY_ROOT, 'README.md'), 'utf8');
    expect(readme).toContain(`\`\`\`sh\n${walkthroughCommands(defaults)}\n\`\`\``);
  });

  it('writes in two regions and reads the conflict in a third, then asks the GSLB', () => {
    const text = walkthroughCommands(defaults);
    expect(text).toContain('curl -s -X POST -H "$A" http://127.0.0.1:8081/v1/replication/peers/us/pause; curl -s -X POST -H "$A" http://127.0.0.1:8082/v1/replication/peers/eu/pause');
    expect(text).toContain("curl -s -X PUT http://127.0.0.1:8081/v1/ns/demo/keys/greeting -H 'content-type: application/json' -H \"$W\" -d '{\"value\":\"hallo\"}'\n");
    expect(text).toContain("curl -s -X PUT http://127.0.0.1:8082/v1/ns/demo/keys/greeting -H 'content-type: application/json' -H \"$W\" -d '{\"value\":\"hello\"}'\n");
    expect(text).toContain('curl -s -X POST -H "$A" http://127.0.0.1:8081/v1/replication/peers/us/resume; curl -s -X POST -H "$A" http://127.0.0.1:8082/v1/replication/peers/eu/resume');
    expect(text).toContain('curl -s -H "$R" http://127.0.0.1:8083/v1/conflicts');
    expect(text).toContain("curl -s 'http://127.0.0.1:8080/v1/route?near=1.35,103.8'");
    expect(text).toContain("curl -s --location-trusted -H \"$R\" 'http://127.0.0.1:8080/v1/redirect/v1/ns/demo/keys/greeting?near=1.35,103.8'");
    expect(walkthroughCommands({ ...defaults, gslb: null })).not.toContain('GSLB');
    expect(text).toContain('npm run meridian -- verify');
    expect(walkthroughCommands({ ...defaults, regions: defaults.regions.map(({ grpc: _g, ...r }) => r) })).not.toContain('verify');
  });

  it('takes the tokens from cluster.json first, and sends none when the cluster runs open', () => {
    const [comment, variables] = walkthroughCommands(defaults).split('\n');
    expect(comment).toContain('.meridian/cluster.json');
    expect(variables).toBe(`A="Authorization: Bearer $(node -p "require('./.meridian/cluster.json').auth.admin")"; W="Authorization: Bearer $(node -p "require('./.meridian/cluster.json').auth.writer")"; R="Authorization: Bearer $(node -p "require('./.meridian/cluster.json').auth.reader")"`);
    expect(walkthroughCommands(defaults, 'elsewhere/cluster.json')).toContain("require('./elsewhere/cluster.json')");
    // The tokens themselves are never printed: they are read from the file.
    expect(formatWalkthrough(defaults, { detached: false })).not.toContain('token.x');
    const open = walkthroughCommands({ ...defaults, auth: null });
    expect(open).not.toContain('Authorization');
    expect(open).not.toContain('$A');
  });

  it('falls back to a write and a read for a one-region cluster', () => {
    expect(walkthroughCommands({ ...defaults, regions: [region('eu', 9000, 1)] }).split('\n')).toHaveLength(6);
    expect(walkthroughCommands({ ...defaults, auth: null, regions: [region('eu', 9000, 1)] }).split('\n')).toHaveLength(4);
  });

  it('lists every address and says how to stop', () => {
    const text = formatWalkthrough(defaults, { detached: true });
    for (const url of ['http://127.0.0.1:8081', 'http://127.0.0.1:8082', 'http://127.0.0.1:8083', 'http://127.0.0.1:8080', 'http://127.0.0.1:9411', '127.0.0.1:29092', 'meridian_local_ap', '/repo/.meridian/logs']) {
      expect(text).toContain(url);
    }
    expect(text).toContain('  region us (Virginia)   http://127.0.0.1:8082       kafka 127.0.0.1:29092, database meridian_local_us');
    expect(text).toContain('Stop it with `npm run meridian -- down`.');
    expect(formatWalkthrough(defaults, { detached: false })).toContain('Ctrl-C stops everything.');
  });
});
