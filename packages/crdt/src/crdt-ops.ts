/**
 * The REST operations of the CRDT namespaces (`POST /v1/ns/{ns}/keys/{key}/ops`), validated into
 * typed operations. Validation is total and strict: anything but the documented shapes is
 * refused with a CrdtError (InvalidOp) whose message names the offending path and value, and
 * unknown members are refused too (a misspelt verb must not be a silent no-op). Validation needs
 * no state; what depends on the state (a field's type, counter overflow) is checked by `apply`.
 *
 * counter: {"increment": n}                  n a non-zero safe integer (negative decrements)
 * set:     {"add": [v, ...]} | {"remove": [v, ...]}   v any JSON; non-empty; repeats count once
 * map:     any non-empty combination of
 *          {"set": {"f": v}}                  register field f := v (LWW by HLC, then dot)
 *          {"increment": {"f": n}}            counter field f += n
 *          {"add": {"f": [v, ...]}}           set field f gains the elements
 *          {"remove": {"f": [v, ...]}}        set field f loses the elements (observed-remove)
 *          {"delete": ["f", ...]}             fields removed (observed-remove)
 *          where one field appears at most once in the whole operation.
 * The set `remove`'s optional client `context` (DESIGN §11) is the service's: it strips it from
 * the body, verifies it, and passes the decoded CausalContext as `observed` to `apply`.
 */
import { describeValue } from '@meridian/causality';
import { canonicalJson, parseCanonicalJson, type JsonValue } from './canonical-json.ts';
import { type CrdtError, invalidOp } from './crdt-error.ts';

export interface CounterOp {
  readonly increment: number;
}

export type SetOp = { readonly add: readonly JsonValue[] } | { readonly remove: readonly JsonValue[] };

export interface MapOp {
  readonly set: readonly (readonly [string, JsonValue])[];
  readonly increment: readonly (readonly [string, number])[];
  readonly add: readonly (readonly [string, readonly JsonValue[]])[];
  readonly remove: readonly (readonly [string, readonly JsonValue[]])[];
  readonly delete: readonly string[];
}

/** Longest accepted map field name, in UTF-16 code units. */
export const MAX_FIELD_NAME_LENGTH = 256;

export function validateCounterOp(op: unknown): CounterOp {
  const record = opObject(op, 'counter', ['increment']);
  return { increment: increment(record.increment, 'counter op "increment"') };
}

export function validateSetOp(op: unknown): SetOp {
  const record = opObject(op, 'set', ['add', 'remove']);
  const verbs = Object.keys(record);
  if (verbs.length !== 1) throw invalidOp(`set op: expected exactly one of "add" or "remove" (got ${verbs.length === 0 ? 'neither' : 'both'})`);
  return 'add' in record ? { add: elements(record.add, 'set op "add"') } : { remove: elements(record.remove, 'set op "remove"') };
}

export function validateMapOp(op: unknown): MapOp {
  const record = opObject(op, 'map', ['set', 'increment', 'add', 'remove', 'delete']);
  if (Object.keys(record).length === 0) throw invalidOp('map op: expected at least one of "set", "increment", "add", "remove", "delete" (got an empty object)');
  const used = new Map<string, string>();
  const claim = (field: string, verb: string): string => {
    const path = `map op "${verb}"`;
    if (field.length === 0 || field.length > MAX_FIELD_NAME_LENGTH) throw invalidOp(`${path}: a field name must have 1 to ${MAX_FIELD_NAME_LENGTH} characters (got ${describeValue(field)})`);
    if (!field.isWellFormed()) throw invalidOp(`${path}: field name ${describeValue(field)} is not well-formed Unicode`);
    const earlier = used.get(field);
    if (earlier !== undefined) throw invalidOp(`map op: field ${JSON.stringify(field)} appears in both "${earlier}" and "${verb}"; one operation may touch a field once`);
    used.set(field, verb);
    return field;
  };
  const perField = <T>(verb: string, read: (value: unknown, path: string) => T): (readonly [string, T])[] => {
    if (!(verb in record)) return [];
    const fields = record[verb];
    if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) throw invalidOp(`map op "${verb}": expected an object of fields (got ${describeValue(fields)})`);
    const entries = Object.entries(fields);
    if (entries.length === 0) throw invalidOp(`map op "${verb}": expected at least one field (got {})`);
    return entries.map(([field, value]) => [claim(field, verb), read(value, `map op "${verb}".${JSON.stringify(field)}`)] as const);
  };
  const set = perField('set', (value, path) => json(value, path));
  const inc = perField('increment', increment);
  const add = perField('add', elements);
  const remove = perField('remove', elements);
  let deleted: string[] = [];
  if ('delete' in record) {
    const names = record.delete;
    if (!Array.isArray(names) || names.length === 0) throw invalidOp(`map op "delete": expected a non-empty array of field names (got ${describeValue(names)})`);
    deleted = (names as unknown[]).map((name) => {
      if (typeof name !== 'string') throw invalidOp(`map op "delete": field names must be strings (got ${describeValue(name)})`);
      return used.get(name) === 'delete' ? name : claim(name, 'delete');
    });
    deleted = [...new Set(deleted)];
  }
  return { set, increment: inc, add, remove, delete: deleted };
}

function opObject(op: unknown, kind: string, verbs: readonly string[]): Record<string, unknown> {
  if (typeof op !== 'object' || op === null || Array.isArray(op)) throw invalidOp(`${kind} op: expected a JSON object (got ${describeValue(op)})`);
  const unknown = Object.keys(op).filter((key) => !verbs.includes(key));
  if (unknown.length > 0) throw invalidOp(`${kind} op: unknown member ${JSON.stringify(unknown[0])}; expected ${verbs.map((v) => JSON.stringify(v)).join(' or ')}`);
  return op as Record<string, unknown>;
}

function increment(value: unknown, path: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value === 0) {
    throw invalidOp(`${path}: expected a non-zero integer between -(2^53 - 1) and 2^53 - 1 (got ${describeValue(value)})`);
  }
  return value;
}

function elements(value: unknown, path: string): JsonValue[] {
  if (!Array.isArray(value) || value.length === 0) throw invalidOp(`${path}: expected a non-empty array of JSON values (got ${describeValue(value)})`);
  const seen = new Set<string>();
  const kept: JsonValue[] = [];
  for (const element of value as unknown[]) {
    const text = canonical(element, `${path} element`);
    if (!seen.has(text)) kept.push(parseCanonicalJson(text));
    seen.add(text);
  }
  return kept;
}

function json(value: unknown, path: string): JsonValue {
  return parseCanonicalJson(canonical(value, path));
}

function canonical(value: unknown, path: string): string {
  try {
    return canonicalJson(value, path);
  } catch (error) {
    throw invalidOp((error as CrdtError).message);
  }
}
