/**
 * What the replication benchmark (replication-catchup.ts) drives and samples beside the
 * processes it measures:
 *
 * - HTTP writes to a region: a fixed number as fast as N keep-alive connections allow (to build
 *   a backlog), or an open loop at a fixed rate that keeps every write's answer — its session
 *   position (the write's outbox id) and the moment the 200 arrived — for end-to-end lag.
 * - Applied positions: a region's `meridian_applied` rows polled straight from its database
 *   (the table `GET /v1/replication` and session reads are answered from), so the poll neither
 *   loads the measured Node process nor waits behind its event loop. `contiguous_outbox_id` is
 *   in the origin's outbox-id space, the space of session positions: "visible in B" means
 *   exactly what a session read in B would wait for.
 * - CPU time per process group (region processes, PostgreSQL, Kafka, this process, the rest of a
 *   shared machine), from /proc, to say where a phase's time went.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import pg from 'pg';
import type { KafkaClientSecurity } from '@meridian/infra-local';
import { CLOCK_TICKS_PER_SECOND, machineBusySeconds } from './cpu.ts';
import { RawConnectionPool } from './raw-http.ts';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** One HTTP write: method, path and JSON body. */
export interface HttpWrite {
  readonly method: 'PUT' | 'POST';
  readonly path: string;
  readonly body: string;
}

/** The position of `actor` in a write answer's session token (`eu.1:120;us.1:87`). */
export function sessionPosition(answerBody: string, actor: string): bigint | undefined {
  const parsed = JSON.parse(answerBody) as { session?: unknown };
  if (typeof parsed.session !== 'string') return undefined;
  for (const part of parsed.session.split(';')) {
    const at = part.lastIndexOf(':');
    if (part.slice(0, at) === actor) return BigInt(part.slice(at + 1));
  }
  return undefined;
}

/** `count` writes over `connections` connections, each sending its next write when the last answered; any non-2xx fails the run. */
export async function writeAll(options: { readonly baseUrl: string; readonly count: number; readonly connections: number; readonly write: (i: number) => HttpWrite; readonly headers?: Readonly<Record<string, string>> }): Promise<{ seconds: number; perSecond: number }> {
  const pool = new RawConnectionPool(new URL(options.baseUrl), Math.min(options.connections, options.count), undefined, options.headers);
  await pool.connected;
  let next = 0;
  const started = performance.now();
  const worker = async (): Promise<void> => {
    while (next < options.count) {
      const write = options.write(next++);
      const answer = await pool.request(write.method, write.path, write.body);
      if (answer.status < 200 || answer.status > 299) throw new Error(`${write.method} ${write.path}: ${answer.status} ${answer.body.toString('utf8', 0, 300)}`);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(options.connections, options.count) }, worker));
  } finally {
    pool.close();
  }
  const seconds = (performance.now() - started) / 1000;
  return { seconds, perSecond: options.count / seconds };
}

/** One write of a paced run: when its 200 arrived (performance.now()) and the write's own outbox id. */
export interface AnsweredWrite {
  readonly answeredAt: number;
  readonly position: bigint;
  /** From the scheduled send time to the answer (queueing included). */
  readonly latencyMs: number;
}

export interface PacedWrites {
  readonly writes: readonly AnsweredWrite[];
  readonly seconds: number;
  readonly failures: number;
  readonly firstFailure: string | undefined;
  /** Writes still unanswered `graceMs` after the schedule ended, given up (the service could not keep up). */
  readonly abandoned: number;
}

/**
 * An open loop: one write every 1/rate s on a schedule that never waits for answers (a write
 * waits only when every connection is busy, and its latency counts from its scheduled time).
 */
export async function pacedWrites(options: {
  readonly baseUrl: string;
  readonly rate: number;
  readonly seconds: number;
  readonly connections: number;
  readonly actor: string;
  readonly write: (i: number) => HttpWrite;
  /** How long after the last scheduled send to wait for answers before giving up on the rest. */
  readonly graceMs: number;
  /** Extra request headers (the bearer token). */
  readonly headers?: Readonly<Record<string, string>>;
}): Promise<PacedWrites> {
  // Every connection is open before the schedule starts (their set-up would count in the first writes).
  const pool = new RawConnectionPool(new URL(options.baseUrl), options.connections, undefined, options.headers);
  await pool.connected;
  const total = Math.max(1, Math.round(options.rate * options.seconds));
  const writes: AnsweredWrite[] = [];
  const inFlight = new Set<Promise<void>>();
  let failures = 0;
  let firstFailure: string | undefined;
  let abandoning = false;
  let abandoned = 0;
  const fail = (what: string): void => {
    if (abandoning) {
      abandoned++;
      return;
    }
    failures++;
    firstFailure ??= what;
  };
  const fire = (i: number, scheduledAt: number): void => {
    const write = options.write(i);
    const done = pool.request(write.method, write.path, write.body).then(
      (answer) => {
        const answeredAt = performance.now();
        const body = answer.body.toString('utf8');
        if (answer.status < 200 || answer.status > 299) return fail(`${write.method} ${write.path}: ${answer.status} ${body.slice(0, 300)}`);
        const position = sessionPosition(body, options.actor);
        if (position === undefined) return fail(`${write.method} ${write.path}: no position of ${options.actor} in the answer's session (${body.slice(0, 300)})`);
        writes.push({ answeredAt, position, latencyMs: answeredAt - scheduledAt });
      },
      (error: unknown) => fail((error as Error).message),
    );
    inFlight.add(done);
    void done.finally(() => inFlight.delete(done));
  };
  const started = performance.now();
  const interval = 1000 / options.rate;
  let issued = 0;
  while (issued < total) {
    const due = Math.min(total, Math.floor((performance.now() - started) / interval) + 1);
    while (issued < due) fire(issued, started + issued++ * interval);
    if (issued < total) await sleep(1);
  }
  const deadline = performance.now() + options.graceMs;
  while (inFlight.size > 0 && performance.now() < deadline) await sleep(10);
  const seconds = (performance.now() - started) / 1000;
  if (inFlight.size > 0) {
    // Queued in this client or in the service: given up (a write the service still commits is
    // replicated, but not in the sample).
    abandoning = true;
    pool.close();
    await Promise.all(inFlight);
  }
  pool.close();
  return { writes, seconds, failures, firstFailure, abandoned };
}

/**
 * Polls one region's applied positions (per origin region: the outbox id up to which every
 * update is applied, and the matching sequence) every `intervalMs`, keeping each change with
 * the time its answer arrived — an upper bound of when it became visible, late by at most one
 * poll interval plus one query.
 */
export class AppliedPoller {
  readonly #client: pg.Client;
  readonly #intervalMs: number;
  readonly #series = new Map<string, { times: number[]; positions: bigint[]; sequences: bigint[] }>();
  #loop: Promise<void> | undefined;
  #stopping = false;
  readonly #poolSize: number;
  #polls = 0;
  #pollMs = 0;
  #busySamples = 0;
  #busySum = 0;
  #saturatedSamples = 0;

  constructor(databaseUrl: string, intervalMs: number, poolSize: number) {
    this.#client = new pg.Client({ connectionString: databaseUrl, application_name: 'meridian-bench-poller' });
    this.#intervalMs = intervalMs;
    this.#poolSize = poolSize;
  }

  /** The region's busy connections (of its pool): the mean, and the share of samples with all busy. */
  get pool(): { meanBusy: number; saturated: number } {
    return { meanBusy: this.#busySum / this.#busySamples, saturated: this.#saturatedSamples / this.#busySamples };
  }

  async start(): Promise<void> {
    await this.#client.connect();
    await this.#poll();
    this.#loop = (async () => {
      while (!this.#stopping) {
        await sleep(this.#intervalMs);
        await this.#poll();
      }
    })();
  }

  async #poll(): Promise<void> {
    const sent = performance.now();
    const { rows } = await this.#client.query<{ region: string; position: string; sequence: string }>(
      'SELECT region, max(contiguous_outbox_id)::text AS position, max(contiguous)::text AS sequence FROM meridian_applied GROUP BY region',
    );
    const at = performance.now();
    this.#polls++;
    this.#pollMs += at - sent;
    if (this.#polls % 10 === 0) {
      // The region's own connections (its pool: writes, relay and replicators share it): how
      // many are inside a statement or transaction rather than idle in the pool.
      const busy = await this.#client.query<{ busy: number }>(
        "SELECT count(*) FILTER (WHERE state <> 'idle')::int AS busy FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'meridian-region-%'",
      );
      const n = busy.rows[0]!.busy;
      this.#busySamples++;
      this.#busySum += n;
      if (n >= this.#poolSize) this.#saturatedSamples++;
    }
    for (const row of rows) {
      let s = this.#series.get(row.region);
      if (!s) this.#series.set(row.region, (s = { times: [], positions: [], sequences: [] }));
      const position = BigInt(row.position);
      if (s.positions.at(-1) !== position) {
        s.times.push(at);
        s.positions.push(position);
        s.sequences.push(BigInt(row.sequence));
      }
    }
  }

  /** The latest applied outbox id of `origin`'s updates (0 before any). */
  position(origin: string): bigint {
    return this.#series.get(origin)?.positions.at(-1) ?? 0n;
  }

  sequence(origin: string): bigint {
    return this.#series.get(origin)?.sequences.at(-1) ?? 0n;
  }

  /** When the first poll saw `origin`'s update at `position` applied (binary search); undefined if never. */
  visibleAt(origin: string, position: bigint): number | undefined {
    const s = this.#series.get(origin);
    if (!s || s.positions.length === 0 || s.positions.at(-1)! < position) return undefined;
    let lo = 0;
    let hi = s.positions.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (s.positions[mid]! >= position) hi = mid;
      else lo = mid + 1;
    }
    return s.times[lo];
  }

  /** Mean time of one poll query (the resolution's second part, beside the interval). */
  get meanPollMs(): number {
    return this.#polls === 0 ? Number.NaN : this.#pollMs / this.#polls;
  }

  /** Until `origin`'s `position` is applied here: true, or false at the deadline. */
  async waitFor(origin: string, position: bigint, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.position(origin) < position) {
      if (Date.now() > deadline) return false;
      await sleep(20);
    }
    return true;
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    await this.#loop?.catch(() => undefined);
    await this.#client.end().catch(() => undefined);
  }
}

/**
 * A bare consumer of a region's updates topic with the replicators' fetch settings (read
 * committed, maxWaitTimeInMs 100, every partition's batch at once, no offsets committed): when
 * each outbox id became fetchable from Kafka, to split "published → applied" into Kafka's part
 * and the applying region's part.
 */
export class TopicTap {
  readonly #consumer: Consumer;
  readonly #topic: string;
  readonly #seen = new Map<string, number>();
  #joined = false;

  readonly #partitions: number;

  constructor(bootstrap: string, topic: string, partitions: number, security?: KafkaClientSecurity) {
    this.#topic = topic;
    this.#partitions = partitions;
    const kafka = new Kafka({ clientId: 'meridian-bench-tap', brokers: [bootstrap], logLevel: logLevel.NOTHING, ...security });
    this.#consumer = kafka.consumer({ groupId: `meridian-bench-tap.${topic}`, readUncommitted: false, maxWaitTimeInMs: 100, sessionTimeout: 10_000, heartbeatInterval: 1000 });
  }

  /** Joins at the topic's end; resolves once the group is joined. */
  async start(): Promise<void> {
    this.#consumer.on(this.#consumer.events.GROUP_JOIN, () => {
      this.#joined = true;
    });
    await this.#consumer.connect();
    await this.#consumer.subscribe({ topic: this.#topic, fromBeginning: false });
    await this.#consumer.run({
      autoCommit: false,
      partitionsConsumedConcurrently: this.#partitions,
      eachMessage: ({ message }) => {
        const at = performance.now();
        const id = message.headers?.['meridian-outbox-id']?.toString();
        if (id !== undefined && !this.#seen.has(id)) this.#seen.set(id, at);
        return Promise.resolve();
      },
    });
    const deadline = Date.now() + 30_000;
    while (!this.#joined) {
      if (Date.now() > deadline) throw new Error(`tap on ${this.#topic}: no group join within 30 s`);
      await sleep(50);
    }
  }

  /** When the outbox row `id` was first fetched (performance.now()); undefined if never. */
  seenAt(id: bigint): number | undefined {
    return this.#seen.get(id.toString());
  }

  async stop(): Promise<void> {
    await this.#consumer.disconnect().catch(() => undefined);
  }
}

// ---- CPU per process group ---------------------------------------------------------------------

interface ProcStat {
  readonly pid: number;
  /** The command name (the stat file's field in parentheses), e.g. `java`, `postgres`. */
  readonly comm: string;
  readonly ppid: number;
  /** utime + stime, in ticks. */
  readonly ticks: number;
}

/** A process's or thread's stat file (`/proc/<pid>/stat`, `/proc/<pid>/task/<tid>/stat`); undefined once it is gone. */
function readStatFile(path: string): { comm: string; ppid: number; ticks: number } | undefined {
  try {
    const stat = readFileSync(path, 'utf8');
    const end = stat.lastIndexOf(')');
    const fields = stat.slice(end + 2).split(' ');
    // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime …
    return { comm: stat.slice(stat.indexOf('(') + 1, end), ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) };
  } catch {
    return undefined; // exited between listing and reading
  }
}

function readStat(pid: number): ProcStat | undefined {
  const stat = readStatFile(`/proc/${pid}/stat`);
  return stat && { pid, ...stat };
}

/** CPU ticks of each of a JVM's JIT compiler threads (HotSpot names them "C1 CompilerThre…", "C2 CompilerThre…"), by thread id. */
function jitThreads(pid: number, into: Map<number, number>): void {
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return; // exited, or no /proc
  }
  for (const task of tasks) {
    const stat = readStatFile(`/proc/${pid}/task/${task}/stat`);
    if (stat && /^C[12] CompilerThre/.test(stat.comm)) into.set(Number(task), stat.ticks);
  }
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
}

/** Cumulative CPU per process, with its group, plus the machine's and this process's totals. */
export interface CpuSample {
  readonly wallMs: number;
  readonly perProcess: ReadonlyMap<number, { readonly group: string; readonly ticks: number }>;
  readonly machineSeconds: number;
  readonly selfSeconds: number;
  /** Of `perProcess`, the ticks of JVMs' JIT compiler threads, per group and thread id (a JVM warming up compiles its hot paths). */
  readonly jitTicks: ReadonlyMap<string, ReadonlyMap<number, number>>;
}

/**
 * Every descendant of this process, grouped by the child it descends from: `groupOf(child)`
 * names the group of a direct child (e.g. by pid, or "kafka" by its command line).
 */
export function cpuSample(groupOf: (pid: number, cmdline: string) => string): CpuSample {
  const all: ProcStat[] = [];
  try {
    for (const name of readdirSync('/proc')) {
      const stat = /^\d+$/.test(name) ? readStat(Number(name)) : undefined;
      if (stat) all.push(stat);
    }
  } catch {
    // no /proc: only the machine and self figures remain
  }
  const children = new Map<number, ProcStat[]>();
  for (const p of all) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p]);
  const perProcess = new Map<number, { group: string; ticks: number }>();
  const jit = new Map<string, Map<number, number>>();
  const visit = (p: ProcStat, group: string): void => {
    perProcess.set(p.pid, { group, ticks: p.ticks });
    if (p.comm === 'java') {
      if (!jit.has(group)) jit.set(group, new Map());
      jitThreads(p.pid, jit.get(group)!);
    }
    for (const c of children.get(p.pid) ?? []) visit(c, group);
  };
  for (const child of children.get(process.pid) ?? []) visit(child, groupOf(child.pid, cmdline(child.pid)));
  const self = process.cpuUsage();
  return { wallMs: performance.now(), perProcess, machineSeconds: machineBusySeconds(), selfSeconds: (self.user + self.system) / 1e6, jitTicks: jit };
}

/** Cores the JVMs' JIT compiler threads used per group between two samples (part of `cpuUse`'s figure for the group). */
export function jitUse(before: CpuSample, after: CpuSample): Map<string, number> {
  const wall = (after.wallMs - before.wallMs) / 1000;
  // Per thread: HotSpot starts and stops compiler threads as its queue needs them. A thread started
  // in between counts whole; one that ended in between is missing from the second sample, and its
  // ticks since the first are lost (so the figure is a lower bound).
  const out = new Map<string, number>();
  for (const [group, threads] of after.jitTicks) {
    let ticks = 0;
    for (const [tid, t] of threads) ticks += t - (before.jitTicks.get(group)?.get(tid) ?? 0);
    out.set(group, ticks / CLOCK_TICKS_PER_SECOND / wall);
  }
  return out;
}

/** Cores used per group between two samples (CPU seconds per second), plus `bench` (this process) and `rest of the machine`. */
export function cpuUse(before: CpuSample, after: CpuSample): Map<string, number> {
  const wall = (after.wallMs - before.wallMs) / 1000;
  const out = new Map<string, number>();
  for (const [pid, { group, ticks }] of after.perProcess) {
    // A process started in between (a new pool connection) counts whole.
    const start = before.perProcess.get(pid)?.ticks ?? 0;
    out.set(group, (out.get(group) ?? 0) + (ticks - start) / CLOCK_TICKS_PER_SECOND / wall);
  }
  out.set('bench process', (after.selfSeconds - before.selfSeconds) / wall);
  const measured = [...out.values()].reduce((a, b) => a + b, 0);
  out.set('rest of the machine', Math.max(0, (after.machineSeconds - before.machineSeconds) / wall - measured));
  return out;
}
