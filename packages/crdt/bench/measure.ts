/**
 * Timing and reporting for the benchmarks: each workload runs until it has taken at least
 * `minMs` and `minRuns` runs (after warm-up runs that are not counted), and the median time per
 * run is reported (the median, not the mean: a machine shared with other work has outliers).
 * A per-run `setup` (untimed) gives workloads that consume their input a fresh copy.
 */

export interface Measurement {
  /** Median milliseconds per run. */
  readonly ms: number;
  readonly runs: number;
}

export interface MeasureOptions {
  readonly minMs?: number;
  readonly minRuns?: number;
  readonly maxRuns?: number;
  readonly warmup?: number;
}

export function measure(run: () => unknown, options?: MeasureOptions): Measurement {
  return measureWithSetup(() => undefined, run, options);
}

export function measureWithSetup<T>(setup: () => T, run: (input: T) => unknown, options: MeasureOptions = {}): Measurement {
  const { minMs = 400, minRuns = 3, maxRuns = 1_000_000, warmup = 2 } = options;
  let sink: unknown;
  for (let i = 0; i < warmup; i++) sink = run(setup());
  let total = 0;
  const times: number[] = [];
  while ((total < minMs || times.length < minRuns) && times.length < maxRuns) {
    const input = setup();
    const start = process.hrtime.bigint();
    sink = run(input);
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    total += ms;
    times.push(ms);
  }
  if (sink === Symbol.for('never')) console.log(sink); // keeps the result alive
  times.sort((a, b) => a - b);
  return { ms: times[Math.floor(times.length / 2)] ?? 0, runs: times.length };
}

/** Like `measure`, for operations so fast that one run is a batch of `batch` calls. */
export function measureBatched(batch: number, call: (i: number) => unknown, options: MeasureOptions = {}): Measurement {
  const m = measure(() => {
    let last: unknown;
    for (let i = 0; i < batch; i++) last = call(i);
    return last;
  }, { minRuns: 7, ...options });
  return { ms: m.ms / batch, runs: m.runs * batch };
}

export function formatTime(ms: number): string {
  if (ms < 0.001) return `${(ms * 1e6).toFixed(0)} ns`;
  if (ms < 1) return `${(ms * 1e3).toFixed(1)} µs`;
  if (ms < 1000) return `${ms.toFixed(ms < 10 ? 2 : 1)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

/** How many times faster Meridian is than the baseline (below 1: slower). */
export function ratio(meridian: Measurement, baseline: Measurement | undefined): string {
  if (baseline === undefined) return '—';
  const r = baseline.ms / meridian.ms;
  return `${r >= 0.1 ? r.toFixed(2) : r.toPrecision(2)}×`;
}

export function throughput(bytes: number, m: Measurement): string {
  const rate = bytes / 1e6 / (m.ms / 1000);
  return `${rate >= 10 ? rate.toFixed(0) : rate.toPrecision(2)} MB/s`;
}

