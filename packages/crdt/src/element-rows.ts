/**
 * An OR-Set stored a row per element (decision 0013), as pure logic: what a write or an applied
 * delta changes in such a layout, reading only the rows it touches, and a hash of the set that
 * does not depend on the layout.
 *
 * Why touching only those rows is the join: joining a delta (D, Cd) into a state (S, Cs) keeps an
 * element's dot unless one side's context has seen it and that side does not hold it (see
 * dot-store.ts). An element of S that D does not name and that holds no dot Cd contains keeps all
 * its dots, so only the elements D names and those holding a dot of Cd can change — found by the
 * dot index (`rowsHolding`) — and the context becomes Cs ⊔ Cd. A delta made by a write names its
 * elements and its context holds only their dots, so it touches those rows alone; a whole state
 * (a repair, a reseed) touches every row, as it must.
 *
 * The hash: 64 bits of SHA-256 over the context's canonical encoding, XORed with 64 bits of
 * SHA-256 of each present element's row (its text and its live dots). Equal sets give equal
 * hashes however they are stored, and a change of one row changes the hash by two XORs. Each part
 * is framed by its 4-byte big-endian length, as the store's key identity is, so a trigger can
 * compute a row's share in SQL. The key's identity is the store's to mix in.
 *
 * Not yet used by the store: the layout itself is decision 0013's next step.
 */
import { createHash } from 'node:crypto';
import { type ActorId, type CausalContext, type Dot } from '@meridian/causality';
import { canonicalJson } from './canonical-json.ts';
import { ORSet } from './or-set.ts';

/** What a split set's store answers; every method reads only what it names. */
export interface ElementRowsReader {
  readonly context: CausalContext;
  /** The element's live dots, undefined when the set does not hold it. */
  row(text: string): readonly Dot[] | undefined;
  /**
   * The elements holding a dot that `context` contains (the dot index: a range per actor of its
   * vector, a lookup per cloud dot). May name an element twice.
   */
  rowsHolding(context: CausalContext): Iterable<string>;
}

/** The rows a write or an apply changes: upserted with their new dots, or deleted; and the new context. */
export interface RowChanges {
  readonly context: CausalContext;
  readonly upserts: ReadonlyMap<string, readonly Dot[]>;
  readonly deletes: ReadonlySet<string>;
}

/** The rows of the state a delta touches, joined with it: join(state, delta), row by row. */
export function joinIntoRows(rows: ElementRowsReader, delta: ORSet): RowChanges {
  const touched = new Set<string>();
  for (const [text] of delta.entries()) touched.add(text);
  for (const text of rows.rowsHolding(delta.context)) touched.add(text);
  const present = ORSet.fromRows(rows.context, readRows(rows, touched));
  const joined = present.join(delta);
  const upserts = new Map<string, readonly Dot[]>();
  const deletes = new Set<string>();
  const after = new Map(joined.entries());
  for (const text of touched) {
    const dots = after.get(text);
    if (dots !== undefined) {
      if (!sameDots(dots, rows.row(text))) upserts.set(text, dots);
    } else if (rows.row(text) !== undefined) deletes.add(text);
  }
  return { context: joined.context, upserts, deletes };
}

/**
 * A local write on a split set: `add` or `remove` of the named elements (with `observed`, only the
 * adds a client saw), planned from the named rows and the context alone. Returns the delta to
 * ship — the one ORSet.update makes on the whole state — and the rows it changes.
 */
export function updateRows(rows: ElementRowsReader, op: { readonly add: readonly unknown[] } | { readonly remove: readonly unknown[] }, actor: ActorId | undefined, observed?: CausalContext): { delta: ORSet; changes: RowChanges } {
  const named = new Set(('add' in op ? op.add : op.remove).map((e) => canonicalJson(e, 'set element')));
  const { delta } = ORSet.fromRows(rows.context, readRows(rows, named)).update(op, actor, observed);
  return { delta, changes: joinIntoRows(rows, delta) };
}

function* readRows(rows: ElementRowsReader, texts: Iterable<string>): Generator<[string, readonly Dot[]]> {
  for (const text of texts) {
    const dots = rows.row(text);
    if (dots !== undefined) yield [text, dots];
  }
}

function sameDots(a: readonly Dot[], b: readonly Dot[] | undefined): boolean {
  return b !== undefined && a.length === b.length && a.every((d, i) => d.actor === b[i]?.actor && d.counter === b[i]?.counter);
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

/** One present element's share of the hash: its text and its live dots (sorted, as stored). */
export function rowHash(text: string, dots: readonly Dot[]): bigint {
  return hash64([text, dots.map((d) => `${d.actor}:${d.counter}`).join(',')]);
}

/** The context's share of the hash. */
export function contextHash(context: CausalContext): bigint {
  return hash64(['context', context.encode()]);
}

/** The layout-independent hash of a set: the context's share XOR every row's. */
export function setHash(state: ORSet): bigint {
  let h = contextHash(state.context);
  for (const [text, dots] of state.entries()) h ^= rowHash(text, dots);
  return h;
}
