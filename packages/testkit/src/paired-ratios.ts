/**
 * Ratios of a variant to its baseline measured in interleaved pairs (A, B, B, A, …) in one run:
 * on a shared, noisy machine the load drifts over minutes, so a ratio of two long runs moves with
 * it, while each pair's ratio sees nearly the same machine. The summary is the median of the
 * per-pair ratios (one noisy pair cannot move it) and their spread (min–max and quartiles), which
 * says whether a difference is larger than the noise.
 */

/** The per-pair ratios of a comparison and their summary. */
export interface PairedRatios {
  /** variant ÷ baseline per pair, in the pairs' order (pairs with a baseline of 0 or NaN left out). */
  readonly ratios: readonly number[];
  readonly median: number;
  readonly min: number;
  readonly max: number;
  /** First and third quartiles (linear interpolation between order statistics). */
  readonly q1: number;
  readonly q3: number;
}

/** The `p`-quantile (0..1) of sorted values, interpolating linearly between neighbours; NaN when empty. */
export function quantile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const at = (sorted.length - 1) * Math.min(1, Math.max(0, p));
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (at - lo);
}

/** The median of values in any order (the mean of the middle two for an even count); NaN when empty. */
export function median(values: readonly number[]): number {
  return quantile([...values].sort((a, b) => a - b), 0.5);
}

/**
 * A distribution-free confidence interval for the median of `sorted` (order statistics: the k-th
 * smallest and k-th largest values, k the largest with P(Binomial(n, ½) < k) ≤ (1 − confidence)/2,
 * so the interval covers the true median with at least `confidence`). Undefined when n is too
 * small for that confidence (fewer than 5 values at 90%).
 */
export function medianInterval(sorted: readonly number[], confidence = 0.9): { readonly low: number; readonly high: number; readonly confidence: number } | undefined {
  const n = sorted.length;
  const tail = (1 - confidence) / 2;
  // P(X ≤ j) for X ~ Binomial(n, 1/2), accumulated term by term.
  let term = 0.5 ** n;
  let below = 0; // P(X < k) for the k under test
  let k = 0;
  for (let j = 0; j < n; j++) {
    if (below + term > tail) break;
    below += term;
    k = j + 1;
    term = (term * (n - j)) / (j + 1);
  }
  if (k === 0) return undefined;
  return { low: sorted[k - 1]!, high: sorted[n - k]!, confidence: 1 - 2 * below };
}

/** variant ÷ baseline for each pair, summarized; every figure NaN when no pair has a usable ratio. */
export function pairedRatios(pairs: readonly { readonly variant: number; readonly baseline: number }[]): PairedRatios {
  const ratios = pairs.filter((p) => Number.isFinite(p.variant) && Number.isFinite(p.baseline) && p.baseline !== 0).map((p) => p.variant / p.baseline);
  const sorted = [...ratios].sort((a, b) => a - b);
  return {
    ratios,
    median: quantile(sorted, 0.5),
    min: sorted[0] ?? Number.NaN,
    max: sorted.at(-1) ?? Number.NaN,
    q1: quantile(sorted, 0.25),
    q3: quantile(sorted, 0.75),
  };
}

/** "1.02 (0.97–1.05, 6 pairs)": the median and the range of the per-pair ratios; '—' without any. */
export function formatRatio(r: PairedRatios, digits = 2): string {
  if (r.ratios.length === 0) return '—';
  return `${r.median.toFixed(digits)} (${r.min.toFixed(digits)}–${r.max.toFixed(digits)}, ${r.ratios.length} pair${r.ratios.length === 1 ? '' : 's'})`;
}
