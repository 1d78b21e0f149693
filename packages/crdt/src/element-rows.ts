/**
 * A set or map stored a row per element or field (decision 0013), as pure logic: what a write or
 * an applied delta changes in such a layout, reading only the rows it touches, and a hash of the
 * collection that does not depend on the layout.
 *
 * Why touching only those rows is the join: joining a delta (D, Cd) into a state (S, Cs) keeps an
 * entry's dot unless one side's context has seen it and that side does not hold it (see
 * dot-store.ts). A row of S that D does not name and that holds no dot Cd contains keeps all its
 * dots, so only the rows D names and those holding a dot of Cd can change — found by the dot index
 * (`rowsHolding`) — and the context becomes Cs ⊔ Cd. A delta made by a write names its elements or
 * fields and its context holds only their dots, so it touches those rows alone; a whole state (a
 * repair, a reseed) touches every row, as it must.
 *
 * The hash: 64 bits of SHA-256 over the context's canonical encoding, XORed with 64 bits of
 * SHA-256 of each row (a set element: its text and live dots; a map field: its name and canonical
 * JSON). Equal collections give equal hashes however they are stored, and a change of one row
 * changes the hash by two XORs. Each part is framed by its 4-byte big-endian length, as the
 * store's key identity is, so a trigger can compute a row's share in SQL. The key's identity is
 * the store's to mix in.
 *
 * Not yet used by the store: the layout itself is decision 0013's next step.
 */
import { createHash } from 'node:crypto';
import { type ActorId, type CausalContext, type Dot } from '@meridian/causality';
import { canonicalJson } from './canonical-json.ts';
import { ORMap, type FieldJson, type MapMutationContext, type MapMutations } from './or-map.ts';
import { ORSet } from './or-set.ts';

/** How a collection type is cut into rows: a row per set element (its dots) or per map field (its JSON). */
export interface RowLayout<S, R> {
  /** The rows of a state: (set: canonical element text; map: field name) → row. */
  rows(state: S): Iterable<readonly [string, R]>;
  /** A state from its context and some of its rows; throws a CrdtError (InvalidEncoding) on rows that break its invariants. */
  fromRows(context: CausalContext, rows: Iterable<readonly [string, R]>): S;
  join(a: S, b: S): S;
  context(state: S): CausalContext;
  /** The dots a row holds (what the dot index maps to its name). */
  dots(row: R): Iterable<Dot>;
  /** The row's share of the hash. */
  hashRow(name: string, row: R): bigint;
  sameRow(a: R, b: R): boolean;
}

/** What a split key's store answers; every method reads only what it names. */
export interface RowsReader<R> {
  readonly context: CausalContext;
  /** The row of that name, undefined when the collection has none. */
  row(name: string): R | undefined;
  /**
   * The rows holding a dot that `context` contains (the dot index: a range per actor of its
   * vector, a lookup per cloud dot). May name a row twice.
   */
  rowsHolding(context: CausalContext): Iterable<string>;
}

/** The rows a write or an apply changes: upserted, or deleted; and the new context. */
export interface RowChanges<R> {
  readonly context: CausalContext;
  readonly upserts: ReadonlyMap<string, R>;
  readonly deletes: ReadonlySet<string>;
}

const dotText = (dots: Iterable<Dot>): string => Array.from(dots, (d) => `${d.actor}:${d.counter}`).join(',');

export const setRows: RowLayout<ORSet, readonly Dot[]> = {
  rows: (state) => state.entries(),
  fromRows: (context, rows) => ORSet.fromRows(context, rows),
  join: (a, b) => a.join(b),
  context: (state) => state.context,
  dots: (row) => row,
  hashRow: (text, dots) => hash64([text, dotText(dots)]),
  sameRow: (a, b) => a.length === b.length && a.every((d, i) => d.actor === b[i]?.actor && d.counter === b[i]?.counter),
};

export const mapRows: RowLayout<ORMap, FieldJson> = {
  rows: (state) => state.fieldRows(),
  fromRows: (context, rows) => ORMap.fromFieldRows(context, rows),
  join: (a, b) => a.join(b),
  context: (state) => state.context,
  *dots(field) {
    for (const entry of [...field.registers, ...field.counters]) yield { actor: entry.dot[0], counter: entry.dot[1] };
    for (const element of field.elements) for (const [actor, counter] of element.dots) yield { actor, counter };
  },
  // JSON.stringify, not canonicalJson: a field nests its values three levels down, past the depth
  // limit canonicalJson enforces on values; equal fields are built alike (ORMap.toJSON).
  hashRow: (name, field) => hash64([name, JSON.stringify(field)]),
  sameRow: (a, b) => JSON.stringify(a) === JSON.stringify(b),
};

/** The rows of the state a delta touches, joined with it: join(state, delta), row by row. */
export function joinIntoRows<S, R>(layout: RowLayout<S, R>, reader: RowsReader<R>, delta: S): RowChanges<R> {
  const touched = new Set<string>();
  for (const [name] of layout.rows(delta)) touched.add(name);
  for (const name of reader.rowsHolding(layout.context(delta))) touched.add(name);
  const before = new Map(readRows(reader, touched));
  const joined = layout.join(layout.fromRows(reader.context, before), delta);
  const after = new Map(layout.rows(joined));
  const upserts = new Map<string, R>();
  const deletes = new Set<string>();
  for (const name of touched) {
    const row = after.get(name);
    const old = before.get(name);
    if (row === undefined) {
      if (old !== undefined) deletes.add(name);
    } else if (old === undefined || !layout.sameRow(row, old)) upserts.set(name, row);
  }
  return { context: layout.context(joined), upserts, deletes };
}

/**
 * A local write on a split set: `add` or `remove` of the named elements (with `observed`, only the
 * adds a client saw), planned from the named rows and the context alone. Returns the delta to
 * ship — the one ORSet.update makes on the whole state — and the rows it changes.
 */
export function updateSetRows(reader: RowsReader<readonly Dot[]>, op: { readonly add: readonly unknown[] } | { readonly remove: readonly unknown[] }, actor: ActorId | undefined, observed?: CausalContext): { delta: ORSet; changes: RowChanges<readonly Dot[]> } {
  const named = new Set(('add' in op ? op.add : op.remove).map((e) => canonicalJson(e, 'set element')));
  const { delta } = ORSet.fromRows(reader.context, readRows(reader, named)).update(op, actor, observed);
  return { delta, changes: joinIntoRows(setRows, reader, delta) };
}

/** A local write on a split map, planned from the fields it names and the context alone (as updateSetRows). */
export function updateMapRows(reader: RowsReader<FieldJson>, mutations: MapMutations, context: MapMutationContext): { delta: ORMap; changes: RowChanges<FieldJson> } {
  const named = new Set<string>([...[mutations.set, mutations.increment, mutations.add, mutations.remove].flatMap((part) => (part ?? []).map(([name]) => name)), ...(mutations.delete ?? [])]);
  const { delta } = ORMap.fromFieldRows(reader.context, readRows(reader, named)).update(mutations, context);
  return { delta, changes: joinIntoRows(mapRows, reader, delta) };
}

function* readRows<R>(reader: RowsReader<R>, names: Iterable<string>): Generator<[string, R]> {
  for (const name of names) {
    const row = reader.row(name);
    if (row !== undefined) yield [name, row];
  }
}

function hash64(parts: readonly (string | Uint8Array)[]): bigint {
  const h = createHash('sha256');
  for (const part of parts) {
    const bytes = typeof part === 'string' ? Buffer.from(part, 'utf8') : part;
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    h.update(length).update(bytes);
  }
  return h.digest().readBigUInt64BE(0);
}

/** The context's share of the hash. */
export function contextHash(context: CausalContext): bigint {
  return hash64(['context', context.encode()]);
}

/** The layout-independent hash of a set or map: the context's share XOR every row's. */
export function layoutHash<S, R>(layout: RowLayout<S, R>, state: S): bigint {
  let h = contextHash(layout.context(state));
  for (const [name, row] of layout.rows(state)) h ^= layout.hashRow(name, row);
  return h;
}
