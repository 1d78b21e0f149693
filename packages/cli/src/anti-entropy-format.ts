/** How `meridian verify` prints a differing key and its progress line. Pure. */
import type { ExchangeProgress, KeyDifference } from '@meridian/anti-entropy';

/** The pair, the key, and which side lacks it or that both hold other states. */
export function formatDifference(pair: string, d: KeyDifference): string {
  const [left, right] = pair.split('↔');
  const how = d.localHash === undefined ? `missing in ${left}` : d.remoteHash === undefined ? `missing in ${right}` : 'states differ';
  return `${pair}  ${d.namespace}/${d.key}  ${how}`;
}

const BAR_WIDTH = 20;

/** The progress line (drawn over itself on a terminal): the pair, the phase, a bar of done/total, the namespace. Nothing to do counts as done. */
export function formatProgress(pair: string, p: ExchangeProgress): string {
  const filled = p.total === 0 ? BAR_WIDTH : Math.round((p.done / p.total) * BAR_WIDTH);
  return `${pair} ${p.phase.padEnd(7)} [${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ${p.done}/${p.total}${p.namespace ? ` ${p.namespace}` : ''}`;
}
