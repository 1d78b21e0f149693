/**
 * Reference models: what a replica must show, computed from the operations whose effects it has
 * joined (its `known` set), written as directly as possible from each type's specification and
 * sharing no code with the implementation's joins.
 *
 * - counter: the sum of the increments. A counter delta carries its actor's running entry, so
 *   knowing an actor's k-th increment means knowing its first k (per sign).
 * - LWW register: the write with the greatest (HLC, dot).
 * - MV register: the known writes that no known write has seen (its client's read context).
 * - OR-Set, OR-Map: operation-based. Each operation records which live items (adds, register
 *   writes, counter entries) its replica showed when it ran — those are what it observed and
 *   removes or supersedes. An item is live iff its operation is known and no known operation
 *   observed it; an element is present iff one of its adds is live ("some add not covered by a
 *   remove"). A map counter entry carries its actor's running total (see or-map.ts).
 */
import { compareDots, compareStamped, type ActorId, type Dot, type Hlc } from '@meridian/causality';
import { canonicalJson, compareCanonical, parseCanonicalJson, type JsonValue } from '../canonical-json.ts';
import { type MapOp, type SetOp } from '../crdt-ops.ts';
import { counterJson } from '../pn-counter.ts';

export class CounterModel {
  readonly #ops = new Map<number, { chain: string; seq: number; amount: number }>();
  readonly #chains = new Map<string, number>();

  record(id: number, actor: ActorId, amount: number): void {
    const chain = `${actor}${amount > 0 ? '+' : '-'}`;
    const seq = (this.#chains.get(chain) ?? 0) + 1;
    this.#chains.set(chain, seq);
    this.#ops.set(id, { chain, seq, amount });
  }

  expected(known: ReadonlySet<number>): JsonValue {
    const reached = new Map<string, number>();
    for (const id of known) {
      const op = this.#ops.get(id);
      if (op !== undefined) reached.set(op.chain, Math.max(op.seq, reached.get(op.chain) ?? 0));
    }
    let sum = 0n;
    for (const op of this.#ops.values()) if (op.seq <= (reached.get(op.chain) ?? 0)) sum += BigInt(op.amount);
    return counterJson(sum);
  }
}

export class LwwModel {
  readonly #writes = new Map<number, { hlc: Hlc; dot: Dot; text: string }>();

  record(id: number, hlc: Hlc, dot: Dot, value: JsonValue): void {
    this.#writes.set(id, { hlc, dot, text: canonicalJson(value) });
  }

  expected(known: ReadonlySet<number>): JsonValue | undefined {
    let best: { hlc: Hlc; dot: Dot; text: string } | undefined;
    for (const id of known) {
      const write = this.#writes.get(id);
      if (write !== undefined && (best === undefined || compareStamped(write, best) > 0)) best = write;
    }
    return best === undefined ? undefined : parseCanonicalJson(best.text);
  }
}

export class MvModel {
  readonly #writes = new Map<number, { value: JsonValue; seen: ReadonlySet<number> }>();

  /** `seen`: the writes the client's read context covered (empty for a blind write). */
  record(id: number, value: JsonValue, seen: ReadonlySet<number>): void {
    this.#writes.set(id, { value, seen: new Set(seen) });
  }

  /** The siblings' values, sorted by canonical text. */
  expected(known: ReadonlySet<number>): JsonValue[] {
    const ids = [...known].filter((id) => this.#writes.has(id));
    const siblings = ids.filter((id) => !ids.some((other) => this.#writes.get(other)?.seen.has(id) === true));
    return siblings.map((id) => this.#writes.get(id)?.value ?? null).sort((a, b) => compareCanonical(canonicalJson(a), canonicalJson(b)));
  }
}

/** A live thing an operation created, which later operations can observe. */
interface Item {
  readonly key: string;
  readonly op: number;
  readonly field: string;
  readonly type: 'register' | 'counter' | 'set';
  readonly element?: string;
  readonly actor: ActorId;
  readonly dot: Dot;
  readonly hlc?: Hlc;
  readonly text?: string;
  readonly total?: number;
}

/** Operation-based observed-remove semantics shared by the set and map models. */
class ObservedRemoveHistory {
  readonly items = new Map<number, Item[]>();
  readonly observed = new Map<number, ReadonlySet<string>>();
  readonly #minted = new Map<ActorId, number>();

  live(known: ReadonlySet<number>): Item[] {
    const dead = new Set<string>();
    for (const id of known) for (const key of this.observed.get(id) ?? []) dead.add(key);
    const live: Item[] = [];
    for (const id of known) for (const item of this.items.get(id) ?? []) if (!dead.has(item.key)) live.push(item);
    return live;
  }

  /** The dot the implementation mints next at `actor`: one after every dot it minted before. */
  mint(actor: ActorId): Dot {
    const counter = (this.#minted.get(actor) ?? 0) + 1;
    this.#minted.set(actor, counter);
    return { actor, counter };
  }

  commit(id: number, items: Item[], observed: Iterable<Item>): void {
    this.items.set(id, items);
    this.observed.set(id, new Set([...observed].map((item) => item.key)));
  }
}

export class ORSetModel {
  readonly #history = new ObservedRemoveHistory();

  record(id: number, actor: ActorId, op: SetOp, originKnown: ReadonlySet<number>): void {
    const live = this.#history.live(originKnown);
    const elements = new Set(('add' in op ? op.add : op.remove).map((e) => canonicalJson(e)));
    const observed = live.filter((item) => item.element !== undefined && elements.has(item.element));
    const items: Item[] = 'add' in op ? [...elements].map((element, n) => ({ key: `${id}/${n}`, op: id, field: '', type: 'set', element, actor, dot: this.#history.mint(actor) })) : [];
    this.#history.commit(id, items, observed);
  }

  expected(known: ReadonlySet<number>): JsonValue[] {
    const present = new Set(this.#history.live(known).map((item) => item.element ?? ''));
    return [...present].sort(compareCanonical).map(parseCanonicalJson);
  }
}

const PRIORITY = ['register', 'counter', 'set'] as const;

export class ORMapModel {
  readonly #history = new ObservedRemoveHistory();

  /** Records the operation, or returns false if it must be refused (a field used as another type). */
  record(id: number, actor: ActorId, hlc: Hlc, op: MapOp, originKnown: ReadonlySet<number>): boolean {
    const live = this.#history.live(originKnown);
    const inField = (field: string): Item[] => live.filter((item) => item.field === field);
    const uses: [string, Item['type']][] = [
      ...op.set.map(([f]) => [f, 'register'] as [string, Item['type']]),
      ...op.increment.map(([f]) => [f, 'counter'] as [string, Item['type']]),
      ...op.add.map(([f]) => [f, 'set'] as [string, Item['type']]),
      ...op.remove.map(([f]) => [f, 'set'] as [string, Item['type']]),
    ];
    for (const [field, type] of uses) {
      const items = inField(field);
      if (items.length > 0 && visibleType(items) !== type) return false;
    }
    const items: Item[] = [];
    const observed: Item[] = [];
    let n = 0;
    const key = (): string => `${id}/${n++}`;
    for (const [field, value] of op.set) {
      items.push({ key: key(), op: id, field, type: 'register', actor, dot: this.#history.mint(actor), hlc, text: canonicalJson(value) });
      observed.push(...inField(field));
    }
    for (const [field, amount] of op.increment) {
      const own = inField(field).filter((item) => item.type === 'counter' && item.actor === actor);
      const total = own.reduce((sum, item) => sum + (item.total ?? 0), 0) + amount;
      items.push({ key: key(), op: id, field, type: 'counter', actor, dot: this.#history.mint(actor), total });
      observed.push(...own, ...inField(field).filter((item) => item.type !== 'counter'));
    }
    for (const [field, elements] of op.add) {
      const texts = new Set(elements.map((e) => canonicalJson(e)));
      for (const element of texts) {
        items.push({ key: key(), op: id, field, type: 'set', element, actor, dot: this.#history.mint(actor) });
        observed.push(...inField(field).filter((item) => item.element === element));
      }
      observed.push(...inField(field).filter((item) => item.type !== 'set'));
    }
    for (const [field, elements] of op.remove) {
      const texts = new Set(elements.map((e) => canonicalJson(e)));
      observed.push(...inField(field).filter((item) => item.element !== undefined && texts.has(item.element)));
    }
    for (const field of op.delete) observed.push(...inField(field));
    this.#history.commit(id, items, observed);
    return true;
  }

  expected(known: ReadonlySet<number>): { [field: string]: JsonValue } {
    const byField = new Map<string, Item[]>();
    for (const item of this.#history.live(known)) byField.set(item.field, [...(byField.get(item.field) ?? []), item]);
    const entries = [...byField].sort(([a], [b]) => compareCanonical(a, b));
    return Object.fromEntries(entries.map(([field, items]) => [field, fieldValue(items)]));
  }
}

function visibleType(items: readonly Item[]): Item['type'] {
  return PRIORITY.find((type) => items.some((item) => item.type === type)) ?? 'set';
}

function fieldValue(items: readonly Item[]): JsonValue {
  const type = visibleType(items);
  const ofType = items.filter((item) => item.type === type);
  if (type === 'counter') return counterJson(ofType.reduce((sum, item) => sum + BigInt(item.total ?? 0), 0n));
  if (type === 'set') return [...new Set(ofType.map((item) => item.element ?? ''))].sort(compareCanonical).map(parseCanonicalJson);
  const winner = ofType.reduce((best, item) => {
    const order = (item.hlc ?? 0n) === (best.hlc ?? 0n) ? compareDots(item.dot, best.dot) : (item.hlc ?? 0n) > (best.hlc ?? 0n) ? 1 : -1;
    return order > 0 ? item : best;
  });
  return parseCanonicalJson(winner.text ?? 'null');
}
