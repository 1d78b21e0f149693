/**
 * How a big set or map is stored (decision 0013): a collection with more than
 * `COLLECTION_SPLIT_ROWS` elements (set) or fields (map) is kept as a header — its type and causal
 * context — and a row per element or field, so that a write reads and writes only the rows it
 * names. The layout is a function of the state alone (more rows than the threshold: split), so
 * two regions holding equal states hold equal rows, and hashes over rows agree.
 *
 * Encodings (canonical: equal inputs, equal bytes):
 * - header: type byte 'e', the format version, the collection's own type byte ('s' or 'o'), the
 *   causal context's encoding (length-prefixed). An encoded state never starts with 'e', so a
 *   header decoded as a state fails loudly instead of reading as an empty collection.
 * - set element row: named by the element's canonical JSON text; its live dots (actor table, dots).
 * - map field row: named by the field name's JSON string (a field name may hold characters a
 *   PostgreSQL text cannot, such as NUL); the field's JSON (`ORMap.fieldRows`), UTF-8.
 *
 * Pure: the store calls `splitCollection`/`joinCollection`, the write path `planCollectionWrite`.
 */
import { CausalContext, type ActorId, type Dot, type Hlc } from '@meridian/causality';
import { ActorTable, ByteReader, ByteWriter, TypeByte } from './binary-codec.ts';
import { canonicalJson } from './canonical-json.ts';
import { invalidEncoding } from './crdt-error.ts';
import type { MapOp, SetOp } from './crdt-ops.ts';
import { updateMapRows, updateSetRows, type RowChanges, type RowsReader } from './element-rows.ts';
import { ORMap, type FieldJson } from './or-map.ts';
import { ORSet } from './or-set.ts';

/** Above this many elements (set) or fields (map), a collection is stored a row per element or field. */
export const COLLECTION_SPLIT_ROWS = 1000;

/** A collection as stored split: its header and every row (name → encoded row). */
export interface SplitCollection {
  readonly header: Uint8Array;
  readonly rows: ReadonlyMap<string, Uint8Array>;
}

type CollectionType = typeof TypeByte.ORSet | typeof TypeByte.ORMap;

const isCollectionType = (type: number | undefined): type is CollectionType => type === TypeByte.ORSet || type === TypeByte.ORMap;

/** How many elements (set) or fields (map) an encoded state holds, read from its frame; undefined for other types. */
export function collectionRowCount(state: Uint8Array): number | undefined {
  const type = state[0];
  if (!isCollectionType(type)) return undefined;
  const reader = new ByteReader(state).header(type);
  reader.bytes('causal context', true);
  const actors = reader.count('actors');
  for (let i = 0; i < actors; i++) reader.string('actor');
  return reader.count('rows');
}

/**
 * Whether an encoded state is stored split under `threshold`: a set or map with more rows. Bytes
 * that are no such state (a register, or bytes that do not decode, which only a test or a hand edit
 * stores) are not.
 */
export function splitsAbove(state: Uint8Array, threshold: number): boolean {
  try {
    return (collectionRowCount(state) ?? 0) > threshold;
  } catch {
    return false;
  }
}

/** The split layout of an encoded state, or undefined when it stays one row (not a set or map, or at most `threshold` rows). */
export function splitCollection(state: Uint8Array, threshold: number = COLLECTION_SPLIT_ROWS): SplitCollection | undefined {
  const count = collectionRowCount(state);
  if (count === undefined || count <= threshold) return undefined;
  const rows = new Map<string, Uint8Array>();
  if (state[0] === TypeByte.ORSet) {
    const set = ORSet.decode(state);
    for (const [text, dots] of set.entries()) rows.set(text, encodeSetRow(dots));
    return { header: encodeHeader(TypeByte.ORSet, set.context), rows };
  }
  const map = ORMap.decode(state);
  for (const [name, field] of map.fieldRows()) rows.set(fieldRowName(name), encodeFieldRow(field));
  return { header: encodeHeader(TypeByte.ORMap, map.context), rows };
}

/** The encoded whole state of a split collection: its header and all of its rows. */
export function joinCollection(header: Uint8Array, rows: Iterable<readonly [string, Uint8Array]>): Uint8Array {
  const { type, context } = decodeHeader(header);
  if (type === TypeByte.ORSet) return ORSet.fromRows(context, mapRowsOf(rows, decodeSetRow)).encode();
  return ORMap.fromFieldRows(context, [...mapRowsOf(rows, decodeFieldRow)].map(([stored, field]) => [fieldNameOf(stored), field] as const)).encode();
}

/** A map field's row name: its name as a JSON string. */
export function fieldRowName(field: string): string {
  return JSON.stringify(field);
}

function fieldNameOf(rowName: string): string {
  try {
    const name: unknown = JSON.parse(rowName);
    if (typeof name === 'string') return name;
  } catch {
    // refused below
  }
  throw invalidEncoding(`map row name ${rowName.slice(0, 40)} is not a JSON string`);
}

/** The causal context a split collection's header holds. */
export function collectionHeaderContext(header: Uint8Array): CausalContext {
  return decodeHeader(header).context;
}

/** Whether bytes are a split collection's header (not a state). */
export function isCollectionHeader(bytes: Uint8Array): boolean {
  return bytes[0] === TypeByte.SplitCollection;
}

/** The rows a set or map operation reads and may write: the elements (canonical texts) or fields it names. */
export function collectionOpRows(policy: 'set' | 'map', op: SetOp | MapOp): string[] {
  if (policy === 'set') {
    const setOp = op;
    return [...new Set(('add' in setOp ? setOp.add : setOp.remove).map((e) => canonicalJson(e, 'set element')))];
  }
  const mapOp = op as MapOp;
  return [...new Set([...[mapOp.set, mapOp.increment, mapOp.add, mapOp.remove].flatMap((part) => part.map(([name]) => name)), ...mapOp.delete])].map(fieldRowName);
}

/** The rows (as stored) a set or map delta's entries name: a set's element texts, a map's field names as JSON. Throws a CrdtError on bytes that do not decode. */
export function deltaRowNames(policy: 'set' | 'map', delta: Uint8Array): string[] {
  if (policy === 'set') return [...ORSet.decode(delta).entries()].map(([text]) => text);
  return ORMap.decode(delta).fieldRows().map(([name]) => fieldRowName(name));
}

/**
 * What a set or map update names besides its delta's entries (`UpdateRecord.touchedRows`): the
 * rows `op` names that the delta holds no entry for — a removed element, a deleted field — sorted
 * by code unit. A write's delta reaches no other row (element-rows.ts), so with the entries' rows
 * these are every row its join can change, wherever it is applied.
 */
export function touchedRows(policy: 'set' | 'map', op: SetOp | MapOp, delta: Uint8Array): string[] {
  const entries = new Set(deltaRowNames(policy, delta));
  return collectionOpRows(policy, op)
    .filter((name) => !entries.has(name))
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * The rows a partial state holds, split whatever its size: a state joined from a split key's
 * header and some of its rows (an apply that read only the rows its updates reach) is stored back
 * as its header and those rows.
 */
export function splitRows(state: Uint8Array): SplitCollection {
  const split = splitCollection(state, -1);
  if (!split) throw invalidEncoding('splitRows: not a set or map state');
  return split;
}

/** A write on a split collection, planned from its header, its row count and the rows the operation names. */
export interface CollectionWritePlan {
  /** The delta to ship (encoded as the collection's state type); undefined when the write changes nothing. */
  readonly delta: Uint8Array | undefined;
  /** The collection's context after the write (what its answer's context token signs). */
  readonly context: CausalContext;
  readonly header: Uint8Array;
  /** Elements or fields after the write. */
  readonly count: number;
  readonly upserts: ReadonlyMap<string, Uint8Array>;
  readonly deletes: readonly string[];
}

/**
 * Plans a set or map operation on a split collection. `rows` must hold every row the operation
 * names that exists (`collectionOpRows`): a write's delta holds only dots of those rows and fresh
 * ones, so no other row can change (element-rows.ts). Throws CrdtErrors as the whole-state
 * operation does (an invalid operation, a field type clash).
 */
export function planCollectionWrite(header: Uint8Array, count: number, rows: ReadonlyMap<string, Uint8Array>, op: SetOp | MapOp, write: { readonly actor: ActorId; readonly hlc: Hlc; readonly observed?: CausalContext | undefined }): CollectionWritePlan {
  const { type, context } = decodeHeader(header);
  let delta: ORSet | ORMap;
  let changes: RowChanges<readonly Dot[]> | RowChanges<FieldJson>;
  let encodeRow: (row: never) => Uint8Array;
  // Row names as stored: a set's are its elements' texts, a map's its fields' names as JSON.
  let stored: (name: string) => string;
  if (type === TypeByte.ORSet) {
    ({ delta, changes } = updateSetRows(loadedRows(context, rows, decodeSetRow, (name) => name), op, write.actor, write.observed));
    encodeRow = encodeSetRow;
    stored = (name) => name;
  } else {
    ({ delta, changes } = updateMapRows(loadedRows(context, rows, decodeFieldRow, fieldNameOf), op as MapOp, { actor: write.actor, hlc: write.hlc, ...(write.observed ? { observed: write.observed } : {}) }));
    encodeRow = encodeFieldRow;
    stored = fieldRowName;
  }
  const upserts = new Map<string, Uint8Array>();
  let after = count;
  for (const [name, row] of changes.upserts as ReadonlyMap<string, never>) {
    upserts.set(stored(name), encodeRow(row));
    if (!rows.has(stored(name))) after++;
  }
  const deletes = [...changes.deletes].map(stored);
  for (const name of deletes) if (rows.has(name)) after--;
  return {
    delta: delta.isBottom() ? undefined : delta.encode(),
    context: changes.context,
    header: encodeHeader(type, changes.context),
    count: after,
    upserts,
    deletes,
  };
}

/** A reader over the rows a write loaded (by stored name): those are the only rows its delta can touch. */
function loadedRows<R>(context: CausalContext, rows: ReadonlyMap<string, Uint8Array>, decode: (name: string, bytes: Uint8Array) => R, nameOf: (stored: string) => string): RowsReader<R> {
  const decoded = new Map<string, R>();
  for (const [name, bytes] of rows) decoded.set(nameOf(name), decode(name, bytes));
  return { context, row: (name) => decoded.get(name), rowsHolding: () => decoded.keys() };
}

function encodeHeader(type: CollectionType, context: CausalContext): Uint8Array {
  return new ByteWriter().header(TypeByte.SplitCollection).uint(type).bytes(context.encode()).finish();
}

function decodeHeader(header: Uint8Array): { type: CollectionType; context: CausalContext } {
  const reader = new ByteReader(header).header(TypeByte.SplitCollection);
  const type = reader.uint('collection type');
  if (!isCollectionType(type)) throw invalidEncoding(`split collection header: unknown collection type 0x${type.toString(16)}`);
  let context: CausalContext;
  try {
    context = CausalContext.decode(reader.bytes('causal context', true));
  } catch (error) {
    throw invalidEncoding(`split collection header context: ${(error as Error).message}`, error);
  }
  reader.end();
  return { type, context };
}

function encodeSetRow(dots: readonly Dot[]): Uint8Array {
  const writer = new ByteWriter();
  const table = ActorTable.of(dots);
  table.write(writer);
  table.writeDots(writer, dots);
  return writer.finish();
}

function decodeSetRow(name: string, bytes: Uint8Array): readonly Dot[] {
  const reader = new ByteReader(bytes);
  const table = ActorTable.read(reader);
  const dots = table.readDots(reader, `set row ${name.slice(0, 40)}`);
  table.assertAllUsed();
  reader.end();
  return dots;
}

// JSON.stringify, not canonicalJson: a field's JSON nests its values three levels down, so a value
// at the depth limit would be refused. Deterministic all the same: equal fields are built alike
// (ORMap.toJSON parses each value from its canonical text).
function encodeFieldRow(field: FieldJson): Uint8Array {
  return Buffer.from(JSON.stringify(field), 'utf8');
}

function decodeFieldRow(name: string, bytes: Uint8Array): FieldJson {
  try {
    return JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')) as FieldJson;
  } catch (error) {
    throw invalidEncoding(`map row ${JSON.stringify(name.slice(0, 40))}: ${(error as Error).message}`, error);
  }
}

function* mapRowsOf<R>(rows: Iterable<readonly [string, Uint8Array]>, decode: (name: string, bytes: Uint8Array) => R): Generator<[string, R]> {
  for (const [name, bytes] of rows) yield [name, decode(name, bytes)];
}
