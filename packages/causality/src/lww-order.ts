/**
 * The last-writer-wins order of versions: by HLC, then by dot. Dots are unique, so the order is
 * total and every region picks the same winner among concurrent versions. It is only ever used
 * among versions already known to be concurrent; causality is decided by dots, not by this.
 */
import { compareDots, type Dot } from './actor.ts';
import { type Hlc } from './hybrid-logical-clock.ts';

export function compareStamped(a: { hlc: Hlc; dot: Dot }, b: { hlc: Hlc; dot: Dot }): number {
  if (a.hlc !== b.hlc) return a.hlc < b.hlc ? -1 : 1;
  return compareDots(a.dot, b.dot);
}
