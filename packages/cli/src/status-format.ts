/**
 * How the CLI shows a cluster's state: the one-line status of a running `meridian up`, the
 * `meridian status` table and the `meridian lag` matrix. Pure functions of probe results, so
 * every wording is unit-tested.
 *
 * Lag reads "how far behind": region eu's entry for peer us says how much of us's update stream
 * eu has not applied yet — in seconds of us's time and in updates (sequence numbers).
 */
import type { Health, PeerLag, RegionReport } from './region-client.ts';

/** `0.42 s`, `12 s`, `?` when unknown. */
export function formatSeconds(seconds: number | null): string {
  if (seconds === null) return '?';
  return seconds < 10 ? `${seconds.toFixed(1)} s` : `${Math.round(seconds)} s`;
}

/** One peer link, short: `0.4 s/2` while streaming, with the state when it is anything else. */
export function formatPeerLag(lag: PeerLag): string {
  const numbers = lag.lagSeconds === null && lag.lagSequence === null ? '' : `${formatSeconds(lag.lagSeconds).replace(' ', '')}/${lag.lagSequence ?? '?'}`;
  if (lag.state === 'streaming' || lag.state === null) return numbers || '?';
  return numbers ? `${numbers} ${lag.state}` : lag.state;
}

export function formatHealth(health: Health): string {
  switch (health.kind) {
    case 'ready':
      return 'ready';
    case 'unready':
      return 'NOT READY';
    case 'down':
      return 'DOWN';
  }
}

const HEALTH_SHORT: Record<Health['kind'], string> = { ready: 'up', unready: 'NOT READY', down: 'DOWN' };

/**
 * The running cluster in one line: `eu up (us 0.2s/0, ap 0.1s/0) · us up (…) · ap DOWN · gslb up`.
 * A region that answers shows each peer's lag; lag is left out where replication is off or unknown.
 */
export function formatStatusLine(reports: readonly RegionReport[], gslb: Health | undefined): string {
  const parts = reports.map((r) => {
    const head = `${r.id} ${HEALTH_SHORT[r.health.kind]}`;
    if (r.health.kind === 'down' || r.replication.kind !== 'report') return head;
    const peers = Object.entries(r.replication.report.peers).map(([peer, lag]) => `${peer} ${formatPeerLag(lag)}`);
    return peers.length > 0 ? `${head} (${peers.join(', ')})` : head;
  });
  if (gslb) parts.push(`gslb ${HEALTH_SHORT[gslb.kind]}`);
  return parts.join(' · ');
}

/** A state that is the same while nothing changes but the lag figures: when a non-terminal status line prints again. */
export function statusLineKey(reports: readonly RegionReport[], gslb: Health | undefined): string {
  return JSON.stringify([
    reports.map((r) => [r.id, r.health.kind, r.replication.kind === 'report' ? Object.entries(r.replication.report.peers).map(([p, l]) => [p, l.state]) : r.replication.kind]),
    gslb?.kind,
  ]);
}

function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

/** One peer link, long: `us 0.4 s behind, 2 updates (streaming)`. */
function describePeer(peer: string, lag: PeerLag): string {
  const updates = lag.lagSequence === null ? '? updates' : `${lag.lagSequence} update${lag.lagSequence === 1 ? '' : 's'}`;
  const reason = lag.reason ? `: ${lag.reason}` : '';
  return `${peer} ${formatSeconds(lag.lagSeconds)} behind, ${updates} (${lag.state ?? 'state unknown'}${reason})`;
}

export interface StatusInput {
  readonly reports: readonly RegionReport[];
  readonly gslb: { readonly url: string; readonly health: Health } | undefined;
  readonly zipkin: string;
}

/** `meridian status`: a row per region (health, URL, lag per peer), then the GSLB and Zipkin. */
export function formatStatus(input: StatusInput): string {
  const rows: string[][] = [['', 'health', 'url', 'replication lag per peer']];
  for (const r of input.reports) {
    let replication: string;
    if (r.health.kind === 'down') replication = r.health.reason;
    else if (r.replication.kind === 'report') {
      const peers = Object.entries(r.replication.report.peers);
      replication = peers.length === 0 ? 'no peers' : peers.map(([peer, lag]) => describePeer(peer, lag)).join(' · ');
    } else replication = r.replication.reason;
    if (r.health.kind === 'unready') replication = `${r.health.reason} · ${replication}`;
    rows.push([r.id, formatHealth(r.health), r.url, replication]);
  }
  if (input.gslb) rows.push(['gslb', formatHealth(input.gslb.health), input.gslb.url, input.gslb.health.kind === 'ready' ? '' : input.gslb.health.reason]);
  rows.push(['zipkin', '', input.zipkin, '']);
  return table(rows);
}

/** `meridian lag`: rows are the regions that apply, columns the peers whose updates they apply. */
export function formatLagTable(reports: readonly RegionReport[]): string {
  const ids = reports.map((r) => r.id);
  const rows: string[][] = [['behind →', ...ids]];
  for (const r of reports) {
    const cells = ids.map((peer) => {
      if (peer === r.id) return '·';
      if (r.health.kind === 'down') return 'down';
      if (r.replication.kind !== 'report') return r.replication.kind === 'off' ? 'off' : 'error';
      const lag = r.replication.report.peers[peer];
      if (!lag) return 'not a peer';
      const figures = `${formatSeconds(lag.lagSeconds)} / ${lag.lagSequence ?? '?'}`;
      return lag.state === 'streaming' ? figures : `${figures} (${lag.state ?? '?'})`;
    });
    rows.push([r.id, ...cells]);
  }
  return `${table(rows)}\n(each row: how far that region is behind each peer's updates — seconds / updates)`;
}
