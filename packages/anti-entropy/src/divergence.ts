/**
 * Which differing segments count as divergence (DESIGN §8). Two regions' trees differ all the
 * time while updates are in flight between them: that is replication's job, not a repair's. A
 * segment counts only when
 * - it differed in the previous comparison of the same pair and namespace too (a difference that
 *   outlived a round is not in flight — rounds are much longer than replication lag), or
 * - both sides had applied exactly the same updates when they were compared (their positions —
 *   per origin actor, the outbox id up to which everything is applied, each side's own high-water
 *   included — are equal), so nothing was in flight between them.
 * Pure: the caller keeps one tracker per peer and feeds it each round's observations.
 */

/** Per origin actor, the outbox id up to which a region has applied (its own: its high-water). */
export type Positions = ReadonlyMap<string, bigint>;

/** Nothing in flight between two regions: every origin's position is equal (absent = 0). */
export function quiescent(a: Positions, b: Positions): boolean {
  for (const origin of new Set([...a.keys(), ...b.keys()])) if ((a.get(origin) ?? 0n) !== (b.get(origin) ?? 0n)) return false;
  return true;
}

export class DivergenceTracker {
  /** Per namespace, the segments that differed in the previous round. */
  #previous = new Map<string, ReadonlySet<number>>();

  /**
   * Records this round's differing segments of a namespace and returns the ones that count as
   * divergent (ascending). A namespace not observed in a round (its roots were equal) forgets its
   * history: call `settle` with the namespaces observed.
   */
  observe(namespace: string, segments: readonly number[], quiet: boolean): number[] {
    const previous = this.#previous.get(namespace) ?? new Set<number>();
    this.#previous.set(namespace, new Set(segments));
    return (quiet ? [...segments] : segments.filter((s) => previous.has(s))).sort((a, b) => a - b);
  }

  /** Forgets namespaces that were equal this round (no difference carries over a round without one). */
  settle(observed: ReadonlySet<string>): void {
    for (const ns of [...this.#previous.keys()]) if (!observed.has(ns)) this.#previous.delete(ns);
  }
}
