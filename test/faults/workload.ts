/**
 * The fault suite's clients: each carries one session token across regions (merged from every
 * answer, sent as X-Meridian-Session on reads and writes), picks operations and regions from
 * its own seeded generator, and records every operation it completes in the history the
 * checkers read. Writes carry an Idempotency-Key and are retried with it (in the same region)
 * when their outcome is unknown; what stays unknown is recorded as such.
 *
 * Objects: counters; OR-sets (adds; removes with the context read where the element was added);
 * maps (a counter field and a set field, each checked as an object of its own); lww and mv
 * registers written read-modify-write with the context read.
 */
import { randomUUID } from 'node:crypto';
import { VersionVector } from '@meridian/causality';
import { SeededRandom, type Dot, type HistoryOp, type Outcome, type ReadValue, type Vector } from '@meridian/testkit';

export const POLICIES = ['counter', 'set', 'map', 'lww', 'mv'] as const;
export type WorkloadPolicy = (typeof POLICIES)[number];
export const KEYS_PER_NAMESPACE = 3;

export interface Answer {
  readonly status: number;
  readonly json: Record<string, any>;
}

/** The bearer token every call sends: the fault cluster runs with authentication on, as deployments do. */
let bearer: string | undefined;
export function useBearerToken(token: string): void {
  bearer = token;
}

/** One HTTP call with a deadline; throws on a lost connection or timeout. */
export async function call(base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}, timeoutMs = 5000): Promise<Answer> {
  const r = await fetch(`${base}${path}`, {
    method,
    headers: { ...(bearer !== undefined ? { authorization: `Bearer ${bearer}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    redirect: 'manual',
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await r.text();
  let json: Record<string, any> = {};
  try {
    json = text ? (JSON.parse(text) as Record<string, any>) : {};
  } catch {
    json = { raw: text };
  }
  return { status: r.status, json };
}

/** The vector inside a register's context token (`<payload>.<mac>`, payload = kind byte + encoded vector). */
export function tokenVector(token: string | undefined): Vector {
  if (!token) return {};
  const payload = Buffer.from(token.slice(0, token.indexOf('.')), 'base64url');
  if (payload[0] !== 0x76) return {};
  return VersionVector.decode(new Uint8Array(payload.subarray(1))).toJSON();
}

/** The version a register write created: the entry of the writing region's actor that grew past what the write had seen. */
export function writeDot(region: string, seen: Vector, after: Vector): Dot | undefined {
  const mine = Object.entries(after)
    .filter(([actor, n]) => actor.startsWith(`${region}.`) && n > (seen[actor] ?? 0))
    .sort(([a], [b]) => Number(b.split('.')[1]) - Number(a.split('.')[1]));
  return mine[0] ? { actor: mine[0][0], counter: mine[0][1] } : undefined;
}

/** Element-wise max of two session tokens (`actor:position;…`). */
export function mergeSession(a: string, b: string | undefined): string {
  if (!b) return a;
  const out = new Map<string, bigint>();
  for (const part of `${a};${b}`.split(';').filter(Boolean)) {
    const at = part.lastIndexOf(':');
    const [actor, p] = [part.slice(0, at), BigInt(part.slice(at + 1))];
    if (p > (out.get(actor) ?? 0n)) out.set(actor, p);
  }
  return [...out].sort(([x], [y]) => (x < y ? -1 : 1)).map(([actor, p]) => `${actor}:${p}`).join(';');
}

export interface WritePosition {
  readonly actor: string;
  readonly outboxId: number;
}

/**
 * A write's place in the writing region's stream: the entry of that region's newest actor in the
 * write's answer (`actor:outboxId;…`), which names the write's own outbox id.
 */
export function ownPosition(region: string, session: string | undefined): WritePosition | undefined {
  let best: WritePosition | undefined;
  for (const part of (session ?? '').split(';').filter(Boolean)) {
    const at = part.lastIndexOf(':');
    const actor = part.slice(0, at);
    if (!actor.startsWith(`${region}.`)) continue;
    if (!best || Number(actor.slice(region.length + 1)) > Number(best.actor.slice(region.length + 1))) best = { actor, outboxId: Number(part.slice(at + 1)) };
  }
  return best;
}

/** What a read answer says of each object the checkers know (a map key is two objects: its counter field and its set field). */
export function readValues(policy: WorkloadPolicy, ns: string, key: string, answer: Answer): [string, ReadValue][] {
  const j = answer.status === 200 ? answer.json : {};
  const object = `${ns}/${key}`;
  switch (policy) {
    case 'counter':
      return [[object, { type: 'counter', value: (j['value'] as number | undefined) ?? 0 }]];
    case 'set':
      return [[object, { type: 'set', elements: (j['value'] as string[] | undefined) ?? [] }]];
    case 'map': {
      const v = (j['value'] as { hits?: number; tags?: string[] } | undefined) ?? {};
      return [
        [`${object}#hits`, { type: 'counter', value: v.hits ?? 0 }],
        [`${object}#tags`, { type: 'set', elements: v.tags ?? [] }],
      ];
    }
    case 'lww':
      return [[object, { type: 'lww', value: (j['value'] as string | undefined) ?? null, vector: tokenVector(j['context'] as string | undefined) }]];
    case 'mv':
      return [[object, { type: 'mv', values: (j['values'] as string[] | undefined) ?? [], vector: tokenVector(j['context'] as string | undefined) }]];
  }
}

export interface WorkloadTarget {
  /** Region ids and their current URLs (a region may move to a new process, same URL). */
  readonly ids: readonly string[];
  readonly urls: readonly string[];
  /** Namespace of each policy for this run. */
  readonly namespaces: Readonly<Record<WorkloadPolicy, string>>;
  readonly anyRegionWrites: boolean;
}

const refused = (error: unknown): boolean => (error as { cause?: { code?: string } }).cause?.code === 'ECONNREFUSED';
const outcomeOf = (status: number): Outcome => (status >= 200 && status < 300 ? 'ok' : status >= 400 && status < 500 ? 'fail' : 'unknown');

export class Client {
  readonly id: string;
  session = '';
  readonly #rng: SeededRandom;
  readonly #t: WorkloadTarget;
  readonly #history: HistoryOp[];
  #n = 0;
  /** Elements this client added (acknowledged) and has not removed: where, in which object. */
  readonly #added: { object: string; ns: string; key: string; field?: string; element: string; region: number }[] = [];
  /** Counts of what happened, for the run's summary. */
  readonly stats = { ok: 0, fail: 0, unknown: 0, reads: 0, readsRefused: 0 };

  constructor(id: string, seed: number, target: WorkloadTarget, history: HistoryOp[]) {
    this.id = id;
    this.#rng = new SeededRandom(seed);
    this.#t = target;
    this.#history = history;
  }

  #pick<T>(items: readonly T[]): T {
    return items[this.#rng.below(items.length)]!;
  }

  #headers(): Record<string, string> {
    return this.session ? { 'x-meridian-session': this.session } : {};
  }

  /** A write with an Idempotency-Key, retried twice in the same region while its outcome is unknown. */
  async #write(region: number, method: string, path: string, body: unknown): Promise<{ outcome: Outcome; answer: Answer | undefined; start: number; end: number; position?: WritePosition }> {
    const key = randomUUID();
    const start = Date.now();
    let last: Answer | undefined;
    let outcome: Outcome | undefined;
    // Whether some attempt may have taken effect: a 5xx, a timeout, a connection lost after sending.
    let maybe = false;
    for (let attempt = 0; attempt < 3 && outcome === undefined; attempt++) {
      try {
        last = await call(this.#t.urls[region]!, method, path, body, { ...this.#headers(), 'idempotency-key': key });
        const o = outcomeOf(last.status);
        if (o === 'ok') outcome = 'ok';
        // A client error after an unknown attempt does not prove that attempt did nothing.
        else if (o === 'fail') outcome = maybe ? 'unknown' : 'fail';
        else maybe = true;
      } catch (error) {
        last = undefined;
        // Refused before anything was sent (the region was down): that attempt did nothing.
        if (!refused(error)) maybe = true;
      }
      if (outcome === undefined) await new Promise((r) => setTimeout(r, 300 + this.#rng.below(400)));
    }
    outcome ??= maybe ? 'unknown' : 'fail';
    if (outcome === 'ok') this.session = mergeSession(this.session, last!.json['session'] as string | undefined);
    this.stats[outcome] += 1;
    const position = outcome === 'ok' ? ownPosition(this.#t.ids[region]!, last!.json['session'] as string | undefined) : undefined;
    return { outcome, answer: outcome === 'ok' ? last : undefined, start, end: Date.now(), ...(position ? { position } : {}) };
  }

  /** A read with the session (wait mode); undefined when refused or lost (a read promises nothing then). */
  async #read(region: number, ns: string, key: string): Promise<{ answer: Answer; start: number; end: number } | undefined> {
    const start = Date.now();
    try {
      const answer = await call(this.#t.urls[region]!, 'GET', `/v1/ns/${ns}/keys/${key}`, undefined, { ...this.#headers(), 'x-meridian-consistency': 'wait', 'x-meridian-wait-ms': '2000' });
      if (answer.status !== 200 && !(answer.status === 404 && answer.json['error']?.code === 'MERIDIAN_KEY_NOT_FOUND')) {
        this.stats.readsRefused += 1;
        return undefined;
      }
      this.session = mergeSession(this.session, answer.json['session'] as string | undefined);
      this.stats.reads += 1;
      return { answer, start, end: Date.now() };
    } catch {
      this.stats.readsRefused += 1;
      return undefined;
    }
  }

  #base(object: string, region: number, start: number, end: number, position?: WritePosition): { object: string; session: string; region: string; start: number; end: number; position?: WritePosition } {
    return { object, session: this.id, region: this.#t.ids[region]!, start, end, ...(position ? { position } : {}) };
  }

  /** Reads a key and records what it saw, as the checkers model it; returns the answer. */
  async #observe(policy: WorkloadPolicy, region: number, key: string): Promise<Answer | undefined> {
    const ns = this.#t.namespaces[policy];
    const r = await this.#read(region, ns, key);
    if (!r) return undefined;
    for (const [object, read] of readValues(policy, ns, key, r.answer)) this.#history.push({ kind: 'read', read, ...this.#base(object, region, r.start, r.end) });
    return r.answer;
  }

  /** One operation, chosen by the seed. */
  async step(): Promise<void> {
    const region = this.#rng.below(3);
    const other = this.#t.anyRegionWrites ? this.#rng.below(3) : region;
    const key = `k${this.#rng.below(KEYS_PER_NAMESPACE)}`;
    const n = ++this.#n;
    const roll = this.#rng.below(100);
    const ns = this.#t.namespaces;
    if (roll < 20) {
      const amount = 1 + this.#rng.below(5);
      const w = await this.#write(region, 'POST', `/v1/ns/${ns.counter}/keys/${key}/ops`, { increment: amount });
      this.#history.push({ kind: 'increment', amount, outcome: w.outcome, ...this.#base(`${ns.counter}/${key}`, region, w.start, w.end, w.position) });
    } else if (roll < 35) {
      const element = `${this.id}-${n}`;
      const w = await this.#write(region, 'POST', `/v1/ns/${ns.set}/keys/${key}/ops`, { add: [element] });
      this.#history.push({ kind: 'add', element, outcome: w.outcome, ...this.#base(`${ns.set}/${key}`, region, w.start, w.end, w.position) });
      if (w.outcome === 'ok') this.#added.push({ object: `${ns.set}/${key}`, ns: ns.set, key, element, region });
    } else if (roll < 45) {
      await this.#remove(other);
    } else if (roll < 55) {
      const amount = 1 + this.#rng.below(3);
      const w = await this.#write(region, 'POST', `/v1/ns/${ns.map}/keys/${key}/ops`, { increment: { hits: amount } });
      this.#history.push({ kind: 'increment', amount, outcome: w.outcome, ...this.#base(`${ns.map}/${key}#hits`, region, w.start, w.end, w.position) });
    } else if (roll < 62) {
      const element = `${this.id}-${n}`;
      const w = await this.#write(region, 'POST', `/v1/ns/${ns.map}/keys/${key}/ops`, { add: { tags: [element] } });
      this.#history.push({ kind: 'add', element, outcome: w.outcome, ...this.#base(`${ns.map}/${key}#tags`, region, w.start, w.end, w.position) });
      if (w.outcome === 'ok') this.#added.push({ object: `${ns.map}/${key}#tags`, ns: ns.map, key, field: 'tags', element, region });
    } else if (roll < 77) {
      await this.#readModifyWrite('lww', region, other, key, n);
    } else if (roll < 90) {
      await this.#readModifyWrite('mv', region, other, key, n);
    } else {
      await this.#observe(this.#pick(POLICIES), region, key);
    }
  }

  /** Removes an element this client added: the context is read where it was added, the remove sent to `target` (there too by default). */
  async #remove(target: number): Promise<void> {
    if (this.#added.length === 0) return;
    const at = this.#rng.below(this.#added.length);
    const item = this.#added[at]!;
    const read = await this.#observe(item.field ? 'map' : 'set', item.region, item.key);
    const context = read?.json['context'] as string | undefined;
    if (!context) return;
    const to = this.#t.anyRegionWrites ? target : item.region;
    const body = item.field ? { remove: { [item.field]: [item.element] }, context } : { remove: [item.element], context };
    const w = await this.#write(to, 'POST', `/v1/ns/${item.ns}/keys/${item.key}/ops`, body);
    this.#history.push({ kind: 'remove', element: item.element, outcome: w.outcome, ...this.#base(item.object, to, w.start, w.end, w.position) });
    if (w.outcome !== 'fail') this.#added.splice(at, 1);
  }

  async #readModifyWrite(policy: 'lww' | 'mv', region: number, target: number, key: string, n: number): Promise<void> {
    const ns = this.#t.namespaces[policy];
    const read = await this.#observe(policy, region, key);
    if (!read) return;
    const context = read.json['context'] as string | undefined;
    const seen = tokenVector(context);
    const value = `${this.id}-${n}`;
    const w = await this.#write(target, 'PUT', `/v1/ns/${ns}/keys/${key}`, context ? { value, context } : { value });
    const after = tokenVector(w.answer?.json['context'] as string | undefined);
    this.#history.push({ kind: 'write', policy, value, seen, dot: w.outcome === 'ok' ? writeDot(this.#t.ids[target]!, seen, after) : undefined, outcome: w.outcome, ...this.#base(`${ns}/${key}`, target, w.start, w.end, w.position) });
  }
}
