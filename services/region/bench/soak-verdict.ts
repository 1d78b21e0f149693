/**
 * The soak benchmark's judgement (soak.ts): is each sampled series (a table's size, a process's
 * RSS) flat after the first GC period? Pure: samples in, verdicts out.
 *
 * The rule: the reference level of a series is its highest sample in the first GC period after
 * the first one, [G, 2G] (G: the longest a deleted register waits to be purged — two min ages
 * plus a retention round — so by G every kind of garbage has been made and purged at least once
 * and the tables hold their steady-state free space). The series is flat when the highest sample
 * of the run's last third is at most reference × (1 + tolerance) + slack. The slack absorbs
 * sizes that move in whole pages (a 16 kB table taking two more pages is not growth); growth
 * proportional to the writes shows up as the last third standing well above the reference.
 */

export interface SoakSample {
  /** Seconds since the soak's writes started. */
  readonly atSeconds: number;
  /** Series name → value (bytes). */
  readonly values: ReadonlyMap<string, number>;
}

export interface FlatnessRule {
  /** G, in seconds. */
  readonly gcPeriodSeconds: number;
  /** The soak's length, in seconds. */
  readonly durationSeconds: number;
  /** Allowed rise of the last third over the reference, as a fraction (0.25: 25%). */
  readonly tolerance: number;
  /** Allowed rise in absolute terms, per series. */
  readonly slack: (series: string) => number;
}

export interface SeriesVerdict {
  readonly series: string;
  readonly reference: number;
  readonly lastThirdMax: number;
  /** lastThirdMax ÷ reference. */
  readonly ratio: number;
  readonly flat: boolean;
}

export interface FlatnessVerdict {
  readonly flat: boolean;
  /** The reference window's bounds actually used and where the last third starts, seconds. */
  readonly referenceFrom: number;
  readonly referenceTo: number;
  readonly lastThirdFrom: number;
  readonly series: readonly SeriesVerdict[];
}

/** Judges every series present in the samples; throws when the run has no sample to judge by. */
export function judgeFlatness(samples: readonly SoakSample[], rule: FlatnessRule): FlatnessVerdict {
  const g = rule.gcPeriodSeconds;
  const lastThirdFrom = (rule.durationSeconds * 2) / 3;
  let reference = samples.filter((s) => s.atSeconds >= g && s.atSeconds <= 2 * g);
  // Samples sparser than G: the first one after G stands for the period.
  if (reference.length === 0) reference = samples.filter((s) => s.atSeconds >= g).slice(0, 1);
  const last = samples.filter((s) => s.atSeconds >= lastThirdFrom);
  if (reference.length === 0 || last.length === 0) {
    throw new Error(`the soak is too short to judge: no sample after the first GC period (${g} s) or in the last third (from ${lastThirdFrom.toFixed(0)} s)`);
  }
  const names = [...new Set(samples.flatMap((s) => [...s.values.keys()]))].sort();
  const maxOf = (window: readonly SoakSample[], name: string): number => Math.max(...window.map((s) => s.values.get(name) ?? Number.NaN).filter((v) => !Number.isNaN(v)));
  const series = names.map((name): SeriesVerdict => {
    const ref = maxOf(reference, name);
    const lastThirdMax = maxOf(last, name);
    // A series missing from either window (-Infinity) cannot be shown flat.
    const flat = Number.isFinite(ref) && Number.isFinite(lastThirdMax) && lastThirdMax <= ref * (1 + rule.tolerance) + rule.slack(name);
    return { series: name, reference: ref, lastThirdMax, ratio: lastThirdMax / ref, flat };
  });
  return { flat: series.every((s) => s.flat), referenceFrom: reference[0]!.atSeconds, referenceTo: reference.at(-1)!.atSeconds, lastThirdFrom, series };
}
