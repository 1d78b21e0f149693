/** How `meridian verify` prints a differing key: the pair, the key, and which side lacks it or that both hold other states. Pure. */
import type { KeyDifference } from '@meridian/anti-entropy';

export function formatDifference(pair: string, d: KeyDifference): string {
  const [left, right] = pair.split('↔');
  const how = d.localHash === undefined ? `missing in ${left}` : d.remoteHash === undefined ? `missing in ${right}` : 'states differ';
  return `${pair}  ${d.namespace}/${d.key}  ${how}`;
}
