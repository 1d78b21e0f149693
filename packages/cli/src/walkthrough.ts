/**
 * What `meridian up` prints once the cluster is ready: every URL, and a short walkthrough with
 * the cluster's real addresses — create a namespace in one region, see it replicate, stage a
 * partition between two regions and write one key in both, and find the conflict in a third region's
 * `/v1/conflicts` and in Zipkin. The README shows the same walkthrough for the default ports
 * (a unit test keeps the two equal). The cluster is secured: the walkthrough first takes its
 * tokens from cluster.json into shell variables (A admin, W writer, R reader) and sends the one
 * each call needs — the least that works.
 */
import type { ClusterFile } from '@meridian/infra-local';

const PLACES: Readonly<Record<string, string>> = { eu: 'Frankfurt', us: 'Virginia', ap: 'Singapore' };
const NEAR: Readonly<Record<string, string>> = { eu: '50.11,8.68', us: '38.9,-77.0', ap: '1.35,103.8' };

/** Every address of the cluster, one per line. */
export function formatAddresses(file: ClusterFile): string {
  const rows: [string, string, string][] = file.regions.map((r) => [`region ${r.id}${PLACES[r.id] ? ` (${PLACES[r.id]})` : ''}`, r.url, `kafka ${r.kafka}, database ${r.database}`]);
  if (file.gslb) rows.push(['gslb', file.gslb, 'routes each client to the nearest healthy region']);
  rows.push(['zipkin', file.zipkin, 'traces of writes, replication and conflicts']);
  const first = file.regions[0];
  if (first) rows.push(['API reference', `${first.url}/docs`, 'the same API in every region']);
  rows.push(['logs', file.logs, '']);
  const name = Math.max(...rows.map((r) => r[0].length));
  const url = Math.max(...rows.map((r) => r[1].length));
  return rows.map(([n, u, what]) => `  ${n.padEnd(name)}  ${u.padEnd(url)}  ${what}`.trimEnd()).join('\n');
}

const CLUSTER_JSON = '.meridian/cluster.json';

/**
 * The walkthrough's shell commands, with comments, for this cluster's addresses; `clusterJson`
 * is where its cluster.json is, as the reader's shell reaches it.
 */
export function walkthroughCommands(file: ClusterFile, clusterJson = CLUSTER_JSON): string {
  const [a, b, c] = file.regions;
  if (!a) return '';
  const secured = file.auth !== null;
  const as = (who: 'A' | 'W' | 'R'): string => (secured ? ` -H "$${who}"` : '');
  const json = `-H 'content-type: application/json'${as('W')}`;
  const lines: string[] = [];
  if (secured) {
    const module = clusterJson.startsWith('/') ? clusterJson : `./${clusterJson}`;
    const token = (role: string): string => `"Authorization: Bearer $(node -p "require('${module}').auth.${role}")"`;
    lines.push(
      `# 0. every call but /health needs a bearer token: the cluster's are in ${clusterJson} (admin, writer, reader)`,
      `A=${token('admin')}; W=${token('writer')}; R=${token('reader')}`,
    );
  }
  if (!b) {
    lines.push(
      `# a namespace (last writer wins), a write and a read in ${a.id}`,
      `curl -s -X PUT ${a.url}/v1/namespaces/demo ${json} -d '{"policy":"lww"}'`,
      `curl -s -X PUT ${a.url}/v1/ns/demo/keys/greeting ${json} -d '{"value":"hallo"}'`,
      `curl -s${as('R')} ${a.url}/v1/ns/demo/keys/greeting`,
    );
    return lines.join('\n');
  }
  const third = c ?? a;
  lines.push(
    `# 1. a namespace that keeps every concurrent value (policy mv), created in ${a.id}…`,
    `curl -s -X PUT ${a.url}/v1/namespaces/demo ${json} -d '{"policy":"mv"}'`,
    `# 2. …replicates to the other regions: once ${b.id} knows it (a second or so), go on`,
    `curl -s${as('R')} ${b.url}/v1/namespaces/demo`,
    `# 3. stage a partition between ${a.id} and ${b.id} (each stops applying the other's updates), write one`,
    `#    key in both — neither write has seen the other — then heal it`,
    `curl -s -X POST${as('A')} ${a.url}/v1/replication/peers/${b.id}/pause; curl -s -X POST${as('A')} ${b.url}/v1/replication/peers/${a.id}/pause`,
    `curl -s -X PUT ${a.url}/v1/ns/demo/keys/greeting ${json} -d '{"value":"hallo"}'`,
    `curl -s -X PUT ${b.url}/v1/ns/demo/keys/greeting ${json} -d '{"value":"hello"}'`,
    `curl -s -X POST${as('A')} ${a.url}/v1/replication/peers/${b.id}/resume; curl -s -X POST${as('A')} ${b.url}/v1/replication/peers/${a.id}/resume`,
    `# 4. a moment later ${third.id} has both writes: it detected the conflict and (policy mv) kept both values`,
    `curl -s${as('R')} ${third.url}/v1/ns/demo/keys/greeting`,
    `curl -s${as('R')} ${third.url}/v1/conflicts`,
    `# 5. the same, readable, with links to Zipkin: the meridian.conflict span of each region that`,
    `#    saw the conflict (tagged meridian.conflict.id) and the traces of the two writes`,
    `npm run meridian -- conflicts --region ${third.id}`,
    `curl -s '${file.zipkin}/api/v2/traces?spanName=meridian.conflict&limit=3'`,
  );
  let step = 6;
  if (file.regions.every((r) => r.grpc !== undefined)) {
    lines.push(
      `# ${step++}. anti-entropy: compare every region's data by hash tree over gRPC (exit 0: the same data)`,
      'npm run meridian -- verify',
    );
  }
  if (file.gslb) {
    const near = NEAR[third.id];
    const hint = near ? `near=${near}` : `from=${third.id}`;
    lines.push(
      `# ${step}. the GSLB: which region should serve a client${PLACES[third.id] ? ` in ${PLACES[third.id]}` : ` near ${third.id}`}? Then a read through it (a redirect)`,
      `curl -s '${file.gslb}/v1/route?${hint}'`,
      // curl sends a header it was given to another port only with --location-trusted.
      `curl -s${secured ? ` --location-trusted${as('R')}` : 'L'} '${file.gslb}/v1/redirect/v1/ns/demo/keys/greeting?${hint}'`,
    );
  }
  return lines.join('\n');
}

/** The whole text printed when the cluster is up. */
export function formatWalkthrough(file: ClusterFile, how: { readonly detached: boolean; readonly clusterJson?: string }): string {
  const indent = (s: string): string => s.split('\n').map((l) => `  ${l}`).join('\n');
  const stop = how.detached ? 'Stop it with `npm run meridian -- down`.' : 'Ctrl-C stops everything.';
  return [
    'Meridian is up:',
    formatAddresses(file),
    '',
    'Try it:',
    indent(walkthroughCommands(file, how.clusterJson)),
    '',
    'In another shell: npm run meridian -- status | lag | conflicts --follow',
    `${stop} The data is kept for the next run (\`npm run cluster -- --fresh\` starts empty).`,
  ].join('\n');
}
