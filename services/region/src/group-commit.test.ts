import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { GroupCommitQueue } from './group-commit.ts';

interface Item {
  readonly id: number;
  readonly lane: number;
  readonly weight: number;
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

function recorder(options: { maxWeight?: number; fail?: (group: readonly Item[]) => boolean } = {}) {
  const groups: Item[][] = [];
  let release: (() => void) | undefined;
  let hold = false;
  const queue = new GroupCommitQueue<Item, string>({
    run: async (items) => {
      groups.push([...items]);
      if (hold) await new Promise<void>((r) => (release = r));
      if (options.fail?.(items)) throw new Error(`group ${groups.length} failed`);
      return items.map((i) => `done-${i.id}`);
    },
    weight: (i) => i.weight,
    maxWeight: options.maxWeight ?? 100,
    lane: (i) => i.lane,
  });
  return {
    queue,
    groups,
    hold: () => (hold = true),
    release: () => {
      hold = false;
      release?.();
    },
  };
}

describe('group commit queue', () => {
  it('items submitted in one tick share one group; each gets its own result', async () => {
    const r = recorder();
    const results = await Promise.all([1, 2, 3].map((id) => r.queue.submit({ id, lane: id, weight: 1 })));
    expect(results).toEqual(['done-1', 'done-2', 'done-3']);
    expect(r.groups.map((g) => g.map((i) => i.id))).toEqual([[1, 2, 3]]);
  });

  it('items arriving while a group runs form the next group, together', async () => {
    const r = recorder();
    r.hold();
    const first = r.queue.submit({ id: 1, lane: 1, weight: 1 });
    await tick();
    expect(r.groups).toHaveLength(1);
    const later = [2, 3].map((id) => r.queue.submit({ id, lane: id, weight: 1 }));
    expect(r.queue.waiting).toBe(2);
    r.release();
    expect(await first).toBe('done-1');
    expect(await Promise.all(later)).toEqual(['done-2', 'done-3']);
    expect(r.groups.map((g) => g.map((i) => i.id))).toEqual([[1], [2, 3]]);
  });

  it('never puts two items of one lane in a group, and keeps each lane in order', async () => {
    const r = recorder();
    await Promise.all([{ id: 1, lane: 0 }, { id: 2, lane: 0 }, { id: 3, lane: 1 }, { id: 4, lane: 0 }].map((i) => r.queue.submit({ ...i, weight: 1 })));
    expect(r.groups.map((g) => g.map((i) => i.id))).toEqual([[1, 3], [2], [4]]);
  });

  it('a failed group rejects its own items only; later groups still run', async () => {
    const r = recorder({ maxWeight: 2, fail: (g) => g.some((i) => i.id === 2) });
    const settled = await Promise.allSettled([1, 2, 3, 4].map((id) => r.queue.submit({ id, lane: id, weight: 1 })));
    expect(r.groups.map((g) => g.map((i) => i.id))).toEqual([[1, 2], [3, 4]]);
    expect(settled.map((s) => s.status)).toEqual(['rejected', 'rejected', 'fulfilled', 'fulfilled']);
  });

  it('any submissions: each item settles once, groups respect the cap (a heavier single item goes alone) and lane order', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ lane: fc.integer({ min: 0, max: 4 }), weight: fc.integer({ min: 1, max: 12 }), pauseAfter: fc.boolean() }), { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 1, max: 20 }),
        async (specs, maxWeight) => {
          const r = recorder({ maxWeight });
          const promises: Promise<string>[] = [];
          for (const [id, spec] of specs.entries()) {
            promises.push(r.queue.submit({ id, lane: spec.lane, weight: spec.weight }));
            if (spec.pauseAfter) await tick();
          }
          expect(await Promise.all(promises)).toEqual(specs.map((_, id) => `done-${id}`));
          const ran = r.groups.flat().map((i) => i.id);
          expect([...ran].sort((a, b) => a - b)).toEqual(specs.map((_, id) => id));
          for (const g of r.groups) {
            expect(new Set(g.map((i) => i.lane)).size).toBe(g.length);
            if (g.length > 1) expect(g.reduce((n, i) => n + i.weight, 0)).toBeLessThanOrEqual(maxWeight);
          }
          for (let lane = 0; lane <= 4; lane++) {
            const order = ran.filter((id) => specs[id]!.lane === lane);
            expect(order).toEqual([...order].sort((a, b) => a - b));
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('with concurrency c (and any overlapAt): at most c groups run at once, a lane is never in two running groups, each lane keeps its order, every item settles', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ lane: fc.integer({ min: 0, max: 5 }), pauseAfter: fc.boolean() }), { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 10 }),
        fc.integer({ min: 1, max: 5 }),
        async (specs, concurrency, delays, overlapAt) => {
          let running = 0;
          let peak = 0;
          const busy = new Set<number>();
          const started: number[] = [];
          let groupNo = 0;
          const queue = new GroupCommitQueue<Item, number>({
            run: async (items) => {
              running++;
              peak = Math.max(peak, running);
              for (const i of items) {
                expect(busy.has(i.lane)).toBe(false);
                busy.add(i.lane);
                started.push(i.id);
              }
              // Groups finish out of order: each waits a few macrotasks.
              for (let t = delays[groupNo++ % delays.length]!; t > 0; t--) await tick();
              for (const i of items) busy.delete(i.lane);
              running--;
              return items.map((i) => i.id);
            },
            weight: () => 1,
            maxWeight: 3,
            lane: (i) => i.lane,
            concurrency,
            overlapAt,
          });
          const promises: Promise<number>[] = [];
          for (const [id, spec] of specs.entries()) {
            promises.push(queue.submit({ id, lane: spec.lane, weight: 1 }));
            if (spec.pauseAfter) await tick();
          }
          expect(await Promise.all(promises)).toEqual(specs.map((_, id) => id));
          expect(peak).toBeLessThanOrEqual(concurrency);
          expect([...started].sort((a, b) => a - b)).toEqual(specs.map((_, id) => id));
          for (let lane = 0; lane <= 5; lane++) {
            const order = started.filter((id) => specs[id]!.lane === lane);
            expect(order).toEqual([...order].sort((a, b) => a - b));
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('with overlapAt n, a second group starts only once n items wait; fewer go together when the first ends', async () => {
    const releases: (() => void)[] = [];
    const groups: number[][] = [];
    const queue = new GroupCommitQueue<Item, number>({
      run: async (items) => {
        groups.push(items.map((i) => i.id));
        await new Promise<void>((r) => releases.push(r));
        return items.map((i) => i.id);
      },
      weight: () => 1,
      maxWeight: 10,
      lane: (i) => i.lane,
      concurrency: 2,
      overlapAt: 3,
    });
    const answers = [queue.submit({ id: 1, lane: 1, weight: 1 })];
    await tick();
    answers.push(queue.submit({ id: 2, lane: 2, weight: 1 }), queue.submit({ id: 3, lane: 3, weight: 1 }));
    await tick();
    expect(groups).toEqual([[1]]);
    answers.push(queue.submit({ id: 4, lane: 4, weight: 1 }));
    await tick();
    expect(groups).toEqual([[1], [2, 3, 4]]);
    // Group [1] ends while [2, 3, 4] runs: the two waiting items stay below 3 and wait for it.
    answers.push(queue.submit({ id: 5, lane: 5, weight: 1 }), queue.submit({ id: 6, lane: 6, weight: 1 }));
    releases[0]!();
    expect(await answers[0]).toBe(1);
    await tick();
    expect(groups).toEqual([[1], [2, 3, 4]]);
    releases[1]!();
    await Promise.all(answers.slice(1, 4));
    await tick();
    expect(groups).toEqual([[1], [2, 3, 4], [5, 6]]);
    releases[2]!();
    expect(await Promise.all(answers)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('with concurrency, a second group starts while the first still runs', async () => {
    let release: (() => void) | undefined;
    const groups: number[][] = [];
    const queue = new GroupCommitQueue<Item, number>({
      run: async (items) => {
        groups.push(items.map((i) => i.id));
        if (groups.length === 1) await new Promise<void>((r) => (release = r));
        return items.map((i) => i.id);
      },
      weight: () => 1,
      maxWeight: 10,
      lane: (i) => i.lane,
      concurrency: 2,
    });
    const first = queue.submit({ id: 1, lane: 1, weight: 1 });
    await tick();
    const second = queue.submit({ id: 2, lane: 2, weight: 1 });
    expect(await second).toBe(2);
    expect(groups).toEqual([[1], [2]]);
    release!();
    expect(await first).toBe(1);
  });
});
