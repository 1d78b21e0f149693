/**
 * The commands that look at a running cluster from another shell: `meridian status` (health and
 * lag per peer of every region, the GSLB, Zipkin), `meridian lag` (the lag matrix) and
 * `meridian conflicts` (a region's conflict records, newest first; `--follow` polls and prints
 * new ones as they appear). They read `<dir>/cluster.json` for the addresses and only ever
 * send GET requests.
 */
import { isAlive, readClusterFile, type ClusterFile } from '@meridian/infra-local';
import type { ConflictsCommand, StatusCommand } from './cli-args.ts';
import { fetchConflicts, probeHealth, probeRegion } from './region-client.ts';
import { formatLagTable, formatStatus } from './status-format.ts';
import { formatConflict, unseenConflicts } from './conflict-format.ts';

/** The cluster file, or undefined after saying there is no cluster. */
function clusterOrExplain(dir: string): ClusterFile | undefined {
  const file = readClusterFile(dir);
  if (!file) {
    console.error(`no cluster is running from ${dir} (no cluster.json): start one with \`npm run cluster\` or \`npm run meridian -- up --detach\``);
    return undefined;
  }
  const supervisor = file.pids['supervisor']!;
  if (!isAlive(supervisor)) console.error(`note: the cluster's supervisor (pid ${supervisor}) is gone; \`meridian down\` cleans up. What still answers:`);
  return file;
}

/** `status` and `lag`; exit code 0 when every region (and the GSLB) is ready, 1 otherwise. */
export async function runStatus(command: StatusCommand): Promise<number> {
  const file = clusterOrExplain(command.dir);
  if (!file) return 1;
  const [reports, gslbHealth] = await Promise.all([Promise.all(file.regions.map((r) => probeRegion(r, file.auth?.reader))), file.gslb ? probeHealth(file.gslb) : Promise.resolve(undefined)]);
  const allReady = reports.every((r) => r.health.kind === 'ready') && (gslbHealth === undefined || gslbHealth.kind === 'ready');
  if (command.json) {
    const regions = reports.map((r) => ({ id: r.id, url: r.url, health: r.health, replication: r.replication.kind === 'report' ? r.replication.report : { unavailable: r.replication.reason } }));
    console.log(JSON.stringify(command.kind === 'lag' ? { regions: regions.map((r) => ({ id: r.id, replication: r.replication })) } : { regions, gslb: file.gslb ? { url: file.gslb, health: gslbHealth } : null, zipkin: file.zipkin, startedAt: file.startedAt }, null, 2));
  } else if (command.kind === 'lag') {
    console.log(formatLagTable(reports));
  } else {
    console.log(`cluster started ${file.startedAt}${file.detached ? ' (detached)' : ''}, supervisor pid ${file.pids['supervisor']}, logs in ${file.logs}\n`);
    console.log(formatStatus({ reports, gslb: file.gslb && gslbHealth ? { url: file.gslb, health: gslbHealth } : undefined, zipkin: file.zipkin }));
  }
  return allReady ? 0 : 1;
}

export async function runConflicts(command: ConflictsCommand): Promise<number> {
  const file = clusterOrExplain(command.dir);
  if (!file) return 1;
  const region = command.region === undefined ? file.regions[0] : file.regions.find((r) => r.id === command.region);
  if (!region) {
    console.error(`no region ${command.region ?? ''} in this cluster (regions: ${file.regions.map((r) => r.id).join(', ')})`);
    return 2;
  }
  const show = (records: readonly Readonly<Record<string, unknown>>[]): void => {
    for (const record of records) console.log(command.json ? JSON.stringify(record) : `${formatConflict(record, file.zipkin)}\n`);
  };
  const query = { ns: command.ns, key: command.key };
  const seen = new Set<string>();
  const first = await fetchConflicts(region.url, { ...query, limit: command.limit }, file.auth?.reader);
  const initial = unseenConflicts(first.conflicts, seen);
  if (!command.json) {
    const filter = command.ns === undefined ? '' : ` for ${command.ns}${command.key === undefined ? '' : `/${command.key}`}`;
    console.log(initial.length === 0 ? `no conflicts recorded in ${region.id}${filter} yet` : `conflicts recorded in ${region.id}${filter}, newest first${first.next ? ` (the latest ${initial.length})` : ''}:\n`);
  }
  show(initial);
  if (!command.follow) return 0;

  if (!command.json) console.log(`following ${region.url}/v1/conflicts (every ${command.intervalMs} ms; Ctrl-C stops)…`);
  let stop = false;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      stop = true;
    });
  }
  let failing = false;
  while (!stop) {
    await new Promise((r) => setTimeout(r, command.intervalMs));
    if (stop) break;
    try {
      // New records are at the head; page on while a whole page is new.
      const fresh: Readonly<Record<string, unknown>>[] = [];
      let after: string | undefined;
      for (;;) {
        const page = await fetchConflicts(region.url, { ...query, limit: 100, after }, file.auth?.reader);
        const unseen = unseenConflicts(page.conflicts, seen);
        fresh.push(...unseen);
        if (unseen.length < page.conflicts.length || page.next === null) break;
        after = page.next;
      }
      show(fresh);
      if (failing && !command.json) console.log(`${region.id} answers again`);
      failing = false;
    } catch (error) {
      if (!failing && !command.json) console.log(`${(error as Error).message}; still following`);
      failing = true;
    }
  }
  return 0;
}
