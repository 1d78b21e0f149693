import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PublishHorizon, type HorizonProbe } from './publish-horizon.ts';

/** A horizon over scripted probes. */
function scripted(probes: HorizonProbe[]) {
  const taken: HorizonProbe[] = [];
  const horizon = new PublishHorizon(() => {
    const next = probes.shift();
    if (!next) throw new Error('no more probes scripted');
    taken.push(next);
    return Promise.resolve(next);
  });
  return { horizon, taken };
}

const p = (maxId: number, xmin: number, xmax: number): HorizonProbe => ({ maxId: BigInt(maxId), xmin: BigInt(xmin), xmax: BigInt(xmax) });

describe('the relay publish horizon', () => {
  it('nothing new: the published id, one probe', async () => {
    const { horizon, taken } = scripted([p(7, 10, 12)]);
    expect(await horizon.safe(7n)).toBe(7n);
    expect(taken).toHaveLength(1);
    expect(horizon.waiting).toBe(false);
  });

  it('no transaction running at the probe: its id at once', async () => {
    const { horizon, taken } = scripted([p(9, 12, 12)]);
    expect(await horizon.safe(7n)).toBe(9n);
    expect(taken).toHaveLength(1);
  });

  it('transactions running at the probe: nothing new until a later probe sees them all ended', async () => {
    const { horizon, taken } = scripted([p(9, 10, 13), p(11, 12, 14), p(11, 13, 15)]);
    expect(await horizon.safe(7n)).toBe(7n);
    expect(horizon.waiting).toBe(true);
    // xmin 12 < 13: transaction 12 (running at the first probe) may hold an id below 9.
    expect(await horizon.safe(7n)).toBe(7n);
    // xmin 13: everything running at the first probe has ended; its id is safe (11 waits on 13, 14).
    expect(await horizon.safe(7n)).toBe(9n);
    expect(taken).toHaveLength(3);
    expect(horizon.waiting).toBe(true);
  });

  it('keeps the earlier waiting probe, whose transactions end first', async () => {
    const { horizon } = scripted([p(9, 10, 13), p(11, 11, 16), p(11, 13, 16), p(11, 16, 17)]);
    expect(await horizon.safe(7n)).toBe(7n);
    expect(await horizon.safe(7n)).toBe(7n);
    expect(await horizon.safe(7n)).toBe(9n);
    expect(await horizon.safe(9n)).toBe(11n);
  });

  it('reset forgets a waiting probe', async () => {
    const { horizon } = scripted([p(9, 10, 13), p(9, 14, 14)]);
    expect(await horizon.safe(7n)).toBe(7n);
    horizon.reset();
    expect(horizon.waiting).toBe(false);
    // The probe after a reset judges only itself: nothing was running at it.
    expect(await horizon.safe(7n)).toBe(9n);
  });

  /**
   * The law: an id is returned only when it was a probe's highest id and every transaction running
   * at that probe is seen to have ended by a later probe (or none was running) — so no lower id
   * can still commit after it is published. Random histories of a server: transactions start and
   * end, committed ids grow; probes read them at random moments.
   */
  it('never returns an id past a probe whose running transactions have not all ended', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ grow: fc.nat(3), start: fc.nat(2), end: fc.nat(3) }), { minLength: 1, maxLength: 60 }),
        async (steps) => {
          // The server: committed max id, running transaction ids, next transaction id.
          let maxId = 0;
          let nextXid = 1;
          const running: number[] = [];
          const history: HorizonProbe[] = [];
          let step = 0;
          const probe = (): Promise<HorizonProbe> => {
            const s = steps[step % steps.length]!;
            step++;
            for (let i = 0; i < s.start; i++) running.push(nextXid++);
            running.sort((a, b) => a - b);
            running.splice(0, Math.min(s.end, running.length));
            maxId += s.grow;
            const xmax = nextXid;
            const xmin = running[0] ?? xmax;
            const taken = p(maxId, xmin, xmax);
            history.push(taken);
            return Promise.resolve(taken);
          };
          const horizon = new PublishHorizon(probe);
          let published = 0n;
          for (let call = 0; call < 20; call++) {
            const safe = await horizon.safe(published);
            expect(safe).toBeGreaterThanOrEqual(published);
            if (safe > published) {
              // Some probe had exactly this id, and its running transactions had all ended by the last probe.
              const last = history.at(-1)!;
              const witness = history.find((h) => h.maxId === safe && (h.xmin >= h.xmax || last.xmin >= h.xmax));
              expect(witness, `id ${safe} returned without a settled probe`).toBeDefined();
              published = safe;
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
