/**
 * The writes the region write benchmarks send (write-throughput.ts, write-cost.ts): the same
 * namespaces, bodies and seeded key sequence, so their figures describe the same workload.
 */
import type { WriteTarget } from './load.ts';

/** A small seeded generator (mulberry32): the same key sequence every run, keys 1..keys. */
export function keyStream(seed: number, keys: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const unit = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    return 1 + Math.floor(unit * keys);
  };
}

export const LWW_NS = 'bench_lww';
export const COUNTER_NS = 'bench_counter';
export const LWW_VALUE = { user: 'u0042', score: 1234, note: 'a register value of about one hundred bytes, padded..' };

/** `lww`: a blind PUT of a ~100-byte JSON value; `counter`: an increment. */
export const WORKLOADS: readonly WriteTarget[] = [
  { name: 'lww', method: 'PUT', path: (k) => `/v1/ns/${LWW_NS}/keys/k${k}`, body: JSON.stringify({ value: LWW_VALUE }) },
  { name: 'counter', method: 'POST', path: (k) => `/v1/ns/${COUNTER_NS}/keys/k${k}/ops`, body: JSON.stringify({ increment: 1 }) },
];
