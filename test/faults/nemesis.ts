/**
 * The nemesis: runs a seeded schedule of faults against a fault cluster, one at a time, each
 * healed before the next, and heals everything at the end. A step that cannot be carried out
 * (an API answering 500 while it should not) is recorded as a finding, not swallowed.
 */
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { sleep, type Restore } from '@meridian/testkit';
import type { FaultCluster } from './fault-cluster.ts';
import type { NemesisStep } from './fault-options.ts';
import { call } from './workload.ts';

export interface NemesisFinding {
  readonly step: NemesisStep;
  readonly message: string;
}

/** Far enough ahead that any drift bound is exceeded: a year. */
const FAR_FUTURE_MS = 365 * 24 * 3600 * 1000;

async function link(cluster: FaultCluster, region: number, peer: number, action: 'pause' | 'resume'): Promise<void> {
  const r = await call(cluster.urls[region]!, 'POST', `/v1/replication/peers/${cluster.ids[peer]}/${action}`, undefined, {}, 10_000);
  if (r.status !== 200) throw new Error(`${action} of ${cluster.ids[region]}←${cluster.ids[peer]} answered ${r.status} ${JSON.stringify(r.json).slice(0, 300)}`);
}

/** Deletes every record of region 0's updates topic (retention, or an operator, did it while the links were paused). */
async function deleteAllRecords(cluster: FaultCluster): Promise<void> {
  const admin = new Kafka({ clientId: 'faults-nemesis', brokers: [cluster.broker.bootstrap], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const topic = `meridian.${cluster.ids[0]}.updates`;
    const offsets = await admin.fetchTopicOffsets(topic);
    await admin.deleteTopicRecords({ topic, partitions: offsets.map((o) => ({ partition: o.partition, offset: o.high })) });
  } finally {
    await admin.disconnect();
  }
}

/**
 * Per actor of `region`, the highest outbox id its updates topic holds (relay headers): what
 * peers have applied or will apply of its stream. Read with a throwaway consumer group.
 */
async function publishedPositions(brokers: string, region: string): Promise<Record<string, number>> {
  const kafka = new Kafka({ clientId: 'faults-published', brokers: [brokers], logLevel: logLevel.NOTHING });
  const topic = `meridian.${region}.updates`;
  const admin = kafka.admin();
  await admin.connect();
  const ends = new Map<number, bigint>();
  try {
    for (const o of await admin.fetchTopicOffsets(topic)) if (BigInt(o.high) > BigInt(o.low)) ends.set(o.partition, BigInt(o.high));
  } finally {
    await admin.disconnect();
  }
  const out: Record<string, number> = {};
  if (ends.size === 0) return out;
  const groupId = `faults-published-${randomUUID()}`;
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100 });
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`reading ${topic} took more than 30 s`)), 30_000);
      consumer.on(consumer.events.CRASH, ({ payload }) => reject(payload.error));
      void consumer.run({
        eachMessage: async ({ partition, message }) => {
          const origin = message.headers?.['meridian-origin']?.toString();
          const id = message.headers?.['meridian-outbox-id']?.toString();
          if (origin?.startsWith(`${region}.`) && id && /^\d+$/.test(id)) out[origin] = Math.max(out[origin] ?? 0, Number(id));
          if (BigInt(message.offset) >= ends.get(partition)! - 1n) ends.delete(partition);
          if (ends.size === 0) {
            clearTimeout(timer);
            resolve();
          }
          await Promise.resolve();
        },
      });
    });
  } finally {
    await consumer.disconnect().catch(() => undefined);
    const admin2 = kafka.admin();
    await admin2.connect().then(() => admin2.deleteGroups([groupId])).catch(() => undefined);
    await admin2.disconnect().catch(() => undefined);
  }
  return out;
}

export async function runStep(cluster: FaultCluster, step: NemesisStep, restores: Restore[] = []): Promise<void> {
  const { region, peer, lengthMs } = step;
  const readers = [1, 2]; // the regions that read region 0's stream
  switch (step.op) {
    case 'pause-link':
      await link(cluster, region, peer, 'pause');
      await sleep(lengthMs);
      await link(cluster, region, peer, 'resume');
      return;
    case 'cut-link':
      cluster.proxy.blackhole(true);
      await sleep(lengthMs);
      cluster.proxy.blackhole(false);
      cluster.proxy.reset();
      return;
    case 'kill-region':
      await cluster.regions[region]!.kill();
      await sleep(lengthMs);
      await cluster.regions[region]!.restart();
      return;
    case 'stop-region':
      await cluster.regions[region]!.pause();
      await sleep(lengthMs);
      await cluster.regions[region]!.resume();
      return;
    case 'kill-broker':
      await cluster.broker.kill();
      await sleep(lengthMs);
      await cluster.broker.restart();
      cluster.proxy.reset();
      return;
    case 'skew-clock':
      await cluster.restartWithClock(2, step.offsetMs);
      return;
    case 'far-future-clock':
      await cluster.restartWithClock(2, FAR_FUTURE_MS);
      await sleep(lengthMs);
      await cluster.restartWithClock(2, 0);
      return;
    case 'delete-records':
      for (const r of readers) await link(cluster, r, 0, 'pause');
      await sleep(lengthMs); // the workload writes in region 0 meanwhile
      await deleteAllRecords(cluster);
      for (const r of readers) await link(cluster, r, 0, 'resume');
      return;
    case 'restore-region': {
      const backup = await cluster.backup(region);
      await sleep(lengthMs); // writes acknowledged after the copy, some replicated
      await backup.restore(async () => {
        // What the stopped region's topic holds is what peers apply; its acknowledged writes
        // beyond it (not yet relayed) are lost with the restore of the older copy.
        const stoppedAt = Date.now();
        const published = await publishedPositions(cluster.kafka[region]!, cluster.ids[region]!);
        console.log(`[faults] ${cluster.ids[region]} stopped for the restore; its topic holds ${JSON.stringify(published)} (read in ${Date.now() - stoppedAt} ms)`);
        restores.push({ region: cluster.ids[region]!, copiedAt: backup.copiedAt, stoppedAt, published });
      });
      return;
    }
    case 'kill-broker-paused':
      await cluster.broker.kill();
      try {
        for (const r of readers) await link(cluster, r, 0, 'pause');
        await sleep(lengthMs);
      } finally {
        await cluster.broker.restart();
        cluster.proxy.reset();
      }
      for (const r of readers) await link(cluster, r, 0, 'resume');
      return;
  }
}

/** Heals whatever a failed step may have left: processes running, broker up, proxy open, every link resumed. */
export async function healAll(cluster: FaultCluster): Promise<void> {
  for (const r of cluster.regions) if (r.paused) await r.resume();
  if (!cluster.broker.running) await cluster.broker.restart();
  cluster.proxy.blackhole(false);
  cluster.proxy.reset();
  for (const r of cluster.regions) if (!r.running) await r.restart();
  if (cluster.clockOffsets[2]! > 24 * 3600 * 1000) await cluster.restartWithClock(2, 0);
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) if (i !== j) await link(cluster, i, j, 'resume').catch(() => undefined);
}

/** Runs the schedule from `startedAt` until `until()` says stop; returns what could not be carried out. */
export async function runNemesis(cluster: FaultCluster, schedule: readonly NemesisStep[], startedAt: number, stop: () => boolean, restores: Restore[] = []): Promise<NemesisFinding[]> {
  const findings: NemesisFinding[] = [];
  for (const step of schedule) {
    const wait = startedAt + step.atMs - Date.now();
    if (wait > 0) await sleep(wait);
    if (stop()) break;
    const t0 = Date.now();
    const target = step.op === 'pause-link' ? `${cluster.ids[step.region]}←${cluster.ids[step.peer]}` : step.op.includes('clock') ? `${cluster.ids[2]} ${step.op === 'skew-clock' ? `${step.offsetMs} ms` : ''}` : step.op.includes('broker') || step.op === 'cut-link' || step.op === 'delete-records' ? `${cluster.ids[0]}'s Kafka` : cluster.ids[step.region];
    console.log(`[faults] +${((t0 - startedAt) / 1000).toFixed(1)}s nemesis ${step.op} ${target} for ${step.lengthMs} ms`);
    try {
      await runStep(cluster, step, restores);
    } catch (error) {
      findings.push({ step, message: (error as Error).message.slice(0, 2000) });
      console.log(`[faults] nemesis ${step.op} could not be carried out: ${(error as Error).message.slice(0, 500)}`);
      await healAll(cluster).catch((e: unknown) => console.log(`[faults] heal failed: ${(e as Error).message}`));
    }
  }
  return findings;
}
