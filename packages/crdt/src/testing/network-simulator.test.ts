/**
 * The network simulator itself: replayable from its seed, partitions hold messages, loss is resent,
 * duplicates happen, and settle delivers everything with withheld messages last.
 */
import { describe, expect, it } from 'vitest';
import { NetworkSimulator, type Envelope } from './network-simulator.ts';

function record(options: { seed: number; duplicateRate?: number; lossRate?: number }): { net: NetworkSimulator<string>; log: Envelope<string>[] } {
  const log: Envelope<string>[] = [];
  const net = new NetworkSimulator<string>({ replicas: 3, ...options }, (e) => log.push(e));
  return { net, log };
}

describe('NetworkSimulator', () => {
  it('replays the same schedule from the same seed, and another from another seed', () => {
    const runs = [1, 1, 2].map((seed) => {
      const { net, log } = record({ seed, duplicateRate: 0.3, lossRate: 0.3 });
      for (let i = 0; i < 20; i++) net.broadcast(i % 3, `m${i}`);
      net.run(30);
      net.settle();
      return log.map((e) => `${e.payload}>${e.to}`).join(',');
    });
    expect(runs[0]).toBe(runs[1]);
    expect(runs[0]).not.toBe(runs[2]);
  });

  it('a partition holds messages across it until healed; settle delivers everything, withheld last', () => {
    const { net, log } = record({ seed: 7 });
    net.partition([[0], [1, 2]]);
    net.send(0, 1, 'across');
    net.send(1, 2, 'inside');
    net.send(2, 0, 'withheld', true);
    net.run(10);
    expect(log.map((e) => e.payload)).toEqual(['inside']);
    net.heal();
    net.send(1, 0, 'after heal');
    net.settle();
    expect(log.map((e) => e.payload).slice(1, 3).sort()).toEqual(['across', 'after heal']);
    expect(log.at(-1)?.payload).toBe('withheld');
    expect(net.pending).toBe(0);
  });

  it('loses messages (to be resent), duplicates some, and every message arrives at least once after settle', () => {
    const { net, log } = record({ seed: 3, duplicateRate: 0.5, lossRate: 0.5 });
    for (let i = 0; i < 30; i++) net.send(0, 1, `m${i}`);
    net.run(100);
    expect(net.stats.lost).toBeGreaterThan(0);
    expect(net.stats.duplicated).toBeGreaterThan(0);
    net.settle();
    expect(new Set(log.map((e) => e.payload)).size).toBe(30);
  });
});
