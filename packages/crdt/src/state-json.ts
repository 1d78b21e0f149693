/**
 * Shared pieces of the JSON forms of states. Every state's JSON is an object
 * `{"type": "<type>", "version": 1, ...fields}`; readers refuse another type, another version and
 * any missing or unknown field (a typo must not read as an empty state). A dot is
 * `[actor, counter]`, as @meridian/causality writes the dots of a context's cloud.
 */
import { isActorId, type Dot, describeValue } from '@meridian/causality';
import { CrdtError, invalidEncoding } from './crdt-error.ts';

export function dotToJSON(d: Dot): [string, number] {
  return [d.actor, d.counter];
}

export function dotFromJSON(json: unknown, what: string): Dot {
  if (!Array.isArray(json) || json.length !== 2) throw invalidEncoding(`${what}: expected [actor, counter] (got ${describeValue(json)})`);
  const [actor, counter] = json as [unknown, unknown];
  if (!isActorId(actor)) throw invalidEncoding(`${what}: invalid actor id (got ${describeValue(actor)})`);
  if (typeof counter !== 'number' || !Number.isSafeInteger(counter) || counter < 1) throw invalidEncoding(`${what}: counter must be a positive safe integer (got ${describeValue(counter)})`);
  return Object.freeze({ actor, counter });
}

/** The JSON format version every writer emits; readers accept exactly this one. */
export const JSON_VERSION = 1;

/** Checks `{type, version, ...fields}` exactly and returns the fields. */
export function readStateJson(json: unknown, type: string, fields: readonly string[]): Record<string, unknown> {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw invalidEncoding(`${type} JSON: expected an object (got ${describeValue(json)})`);
  const record = json as Record<string, unknown>;
  if (record.type !== type) throw invalidEncoding(`${type} JSON: expected "type": "${type}" (got ${describeValue(record.type)})`);
  if (record.version !== JSON_VERSION) throw invalidEncoding(`${type} JSON: unsupported version, expected ${JSON_VERSION} (got ${describeValue(record.version)})`);
  const expected = ['type', 'version', ...fields].sort();
  const actual = Object.keys(record).sort();
  if (expected.join() !== actual.join()) throw invalidEncoding(`${type} JSON: expected exactly the fields ${expected.join(', ')} (got ${actual.join(', ')})`);
  return record;
}

/** Runs a reader of nested JSON that may throw another package's error, as an InvalidEncoding. */
export function nested<T>(what: string, read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (error instanceof CrdtError) throw error;
    throw invalidEncoding(`${what}: ${(error as Error).message}`, error);
  }
}
