/**
 * `meridian verify` and `meridian repair`: the CLI as an anti-entropy coordinator. It reads two
 * or more regions' hash trees over gRPC (addresses from cluster.json, or --grpc), compares the
 * first region with each other one — roots, branches, segments, then keys — and lists the keys
 * that differ. `verify` changes nothing and exits 1 when any key differs. `repair` then merges
 * each differing key's full state into both sides through the regions' own merge, rate-limited,
 * and verifies again (a star of pairwise repairs needs a second pass to carry what one spoke
 * brought to the others); it is resumable by construction: a new run repairs what still differs.
 * A progress line goes to stderr when it is a terminal.
 */
import { runExchange, TokenBucket, type ExchangeProgress, type ExchangeReport, type KeyDifference } from '@meridian/anti-entropy';
import { GrpcReplica, channelCredentials, type TlsFiles } from '@meridian/anti-entropy-grpc';
import { readClusterFile } from '@meridian/infra-local';
import type { AntiEntropyCommand } from './cli-args.ts';
import { formatDifference, formatProgress } from './anti-entropy-format.ts';

const MAX_REPAIR_PASSES = 3;

/** Each region's gRPC address, and the operator's certificate (cluster.json's `tls`; none: plaintext). */
function targets(command: AntiEntropyCommand): { addresses: Map<string, string>; tls: TlsFiles | undefined } {
  const file = readClusterFile(command.dir);
  const known = new Map<string, string>();
  for (const r of file?.regions ?? []) if (r.grpc !== undefined) known.set(r.id, r.grpc);
  for (const [id, address] of Object.entries(command.grpc)) known.set(id, address);
  const ids = command.regions ?? [...known.keys()];
  const missing = ids.filter((id) => !known.has(id));
  if (missing.length > 0) throw new Error(`no gRPC address for ${missing.join(', ')}: give --grpc ${missing[0]}=HOST:PORT${file ? '' : ' (no cluster is running from the default directory)'}`);
  if (ids.length < 2) throw new Error(`expected at least two regions to compare (got ${ids.join(', ') || 'none'})`);
  const given = command.tls ?? file?.tls ?? undefined;
  const tls = given ? { caFile: given.ca, certFile: given.cert, keyFile: given.key } : undefined;
  return { addresses: new Map(ids.map((id) => [id, known.get(id)!])), tls };
}

function progressLine(enabled: boolean): { show(pair: string, p: ExchangeProgress): void; clear(): void } {
  return {
    show: (pair, p) => {
      if (enabled) process.stderr.write(`\r\x1b[K${formatProgress(pair, p)}`);
    },
    clear: () => {
      if (enabled) process.stderr.write('\r\x1b[K');
    },
  };
}

export async function runAntiEntropyCommand(command: AntiEntropyCommand): Promise<number> {
  const { addresses, tls } = targets(command);
  const replicas = new Map([...addresses].map(([id, address]) => [id, new GrpcReplica({ address, credentials: channelCredentials(tls, { kind: 'region', region: id }) })]));
  const progress = progressLine(process.stderr.isTTY === true && !command.json);
  const limiter = new TokenBucket({ perSecond: command.rate, now: Date.now });
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
  const [first, ...others] = [...replicas.keys()];
  const compareAll = async (repair: boolean): Promise<ExchangeReport[]> => {
    const reports: ExchangeReport[] = [];
    for (const other of others) {
      const pair = `${first}↔${other}`;
      reports.push(await runExchange(replicas.get(first!)!, replicas.get(other)!, { repair, limiter, confirmAfterMs: command.confirmMs, sleep, onProgress: (p) => progress.show(pair, p) }));
      progress.clear();
    }
    return reports;
  };
  try {
    let reports = await compareAll(command.kind === 'repair');
    const repaired = { count: 0 };
    if (command.kind === 'repair') {
      for (let pass = 1; pass <= MAX_REPAIR_PASSES; pass++) {
        repaired.count += reports.reduce((n, r) => n + r.repairedLocal.length + r.repairedRemote.length, 0);
        if (reports.every((r) => r.differences.length === 0)) break;
        reports = await compareAll(pass < MAX_REPAIR_PASSES);
      }
    }
    const differences: (KeyDifference & { pair: string })[] = reports.flatMap((r) => r.differences.map((d) => ({ ...d, pair: `${r.local}↔${r.remote}` })));
    const mismatches = reports.flatMap((r) => r.policyMismatches.map((ns) => `${r.local}↔${r.remote}: ${ns}`));
    const bytes = [...replicas.values()].reduce((n, r) => n + r.bytes, 0);
    if (command.json) {
      console.log(JSON.stringify({ regions: [...addresses.keys()], differences: differences.map((d) => ({ pair: d.pair, namespace: d.namespace, key: d.key, local: d.localHash?.toString(16) ?? null, remote: d.remoteHash?.toString(16) ?? null })), repaired: repaired.count, policyMismatches: mismatches, bytes }, null, 2));
    } else {
      for (const d of differences) console.log(formatDifference(d.pair, d));
      for (const m of mismatches) console.log(`namespace policy differs (not repaired key by key): ${m}`);
      const what = command.kind === 'repair' ? `repaired ${repaired.count} key state(s); ` : '';
      console.log(`${what}${differences.length === 0 ? `regions ${[...addresses.keys()].join(', ')} hold the same data` : `${differences.length} key(s) differ`} (${bytes} bytes exchanged)`);
    }
    return differences.length === 0 && mismatches.length === 0 ? 0 : 1;
  } finally {
    for (const r of replicas.values()) r.close();
  }
}
