/**
 * JSON values and their canonical text, which is how this package identifies set elements and
 * stores register values: two values are the same element iff their canonical texts are equal.
 *
 * Canonical text: JSON.stringify's number and string forms (shortest round-trip numbers, -0 as 0,
 * lone surrogates escaped, so the text is always well-formed Unicode) with object members sorted
 * by key in UTF-16 code-unit order, no whitespace. This is the RFC 8785 (JCS) form for every value
 * a JSON parser can produce, so `{"b":1,"a":2}` and `{"a":2,"b":1}` are one element.
 *
 * Only plain JSON is accepted: null, booleans, finite numbers, strings, arrays without holes and
 * plain objects (prototype Object or null), at most MAX_JSON_DEPTH deep, without cycles. Anything
 * else (undefined, NaN, a Date, a Map, a bigint) is refused with a CrdtError instead of being
 * silently changed by JSON.stringify, because a changed value would be a different element.
 */
import { describeValue } from '@meridian/causality';
import { CrdtError, CrdtErrorCode } from './crdt-error.ts';

export type JsonValue = null | boolean | number | string | readonly JsonValue[] | { readonly [key: string]: JsonValue };

/** Nesting deeper than this is refused (it protects the stack of every replica that decodes it). */
export const MAX_JSON_DEPTH = 64;

/** The canonical text of `value`; throws a CrdtError (InvalidValue) unless it is plain JSON. */
export function canonicalJson(value: unknown, what = 'value'): string {
  return write(value, 0, what, new Set());
}

/**
 * Whether `value` nests arrays and objects more than `limit` deep (a scalar is 0 deep, `[]` is 1).
 * Iterative, so a value nested thousands deep — which JSON.parse builds without complaint and
 * which JSON.stringify and every recursive walk overflow the stack on — is measured safely, and
 * the walk stops at the first path deeper than `limit`. Callers check this before anything else
 * walks the value.
 */
export function nestedDeeperThan(value: unknown, limit: number): boolean {
  const stack: { readonly value: unknown; readonly depth: number }[] = [{ value, depth: 0 }];
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    if (typeof next.value !== 'object' || next.value === null) continue;
    const depth = next.depth + 1;
    if (depth > limit) return true;
    for (const child of Object.values(next.value)) if (typeof child === 'object' && child !== null) stack.push({ value: child, depth });
  }
  return false;
}

/** Parses canonical text back into a fresh value (callers may mutate it; states never share it). */
export function parseCanonicalJson(text: string): JsonValue {
  return JSON.parse(text) as JsonValue;
}

/** Compares canonical texts in UTF-16 code-unit order, the one order of elements everywhere here. */
export function compareCanonical(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function write(value: unknown, depth: number, what: string, path: Set<object>): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw notJson(what, value, 'numbers must be finite');
      return JSON.stringify(value);
    case 'object': {
      if (value === null) return 'null';
      if (depth >= MAX_JSON_DEPTH) throw notJson(what, value, `nested deeper than ${MAX_JSON_DEPTH}`);
      if (path.has(value)) throw notJson(what, value, 'it contains a cycle');
      path.add(value);
      try {
        return Array.isArray(value) ? writeArray(value, depth, what, path) : writeObject(value, depth, what, path);
      } finally {
        path.delete(value);
      }
    }
    default:
      throw notJson(what, value, `${typeof value} is not a JSON type`);
  }
}

function writeArray(value: readonly unknown[], depth: number, what: string, path: Set<object>): string {
  const parts: string[] = [];
  for (let i = 0; i < value.length; i++) {
    if (!(i in value)) throw notJson(what, value, 'arrays must not have holes');
    parts.push(write(value[i], depth + 1, what, path));
  }
  return `[${parts.join(',')}]`;
}

function writeObject(value: object, depth: number, what: string, path: Set<object>): string {
  const prototype: unknown = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) throw notJson(what, value, 'only plain objects are JSON');
  if (Object.getOwnPropertySymbols(value).length > 0) throw notJson(what, value, 'symbol keys are not JSON');
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record).sort(compareCanonical);
  const parts = keys.map((key) => `${JSON.stringify(key)}:${write(record[key], depth + 1, what, path)}`);
  return `{${parts.join(',')}}`;
}

function notJson(what: string, value: unknown, why: string): CrdtError {
  return new CrdtError(CrdtErrorCode.InvalidValue, `${what} is not plain JSON: ${why} (got ${describeValue(value)})`);
}
