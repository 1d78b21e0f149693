/**
 * What a read of part of a set or map asks for, parsed from the request at the edge: a page
 * (`?limit=&cursor=`, canonical order) or one set element or map field. A cursor is the last
 * entry of the previous page — an element's canonical JSON text or a field's name — as base64url
 * (without padding), opaque to clients; the page after it starts strictly after that entry, so
 * a walk does not depend on how the key is stored or on writes between pages.
 */
import { canonicalJson, nestedDeeperThan, MAX_JSON_DEPTH } from '@meridian/crdt';
import { MeridianError } from './errors.ts';

/** The largest page a read answers (a bigger `limit` is refused). */
export const MAX_PAGE_LIMIT = 1000;
/** The page size of a read that gives a cursor and no limit. */
export const DEFAULT_PAGE_LIMIT = 100;

export type CollectionRead =
  | { readonly kind: 'whole' }
  | { readonly kind: 'page'; readonly limit: number; readonly after: string | undefined }
  | { readonly kind: 'element'; readonly text: string }
  | { readonly kind: 'field'; readonly name: string };

export const WHOLE: CollectionRead = Object.freeze({ kind: 'whole' });

export function encodeCursor(position: string): string {
  return Buffer.from(position, 'utf8').toString('base64url');
}

/** A page read from the query's `limit` and `cursor` (strings, as sent); neither: the whole value. */
export function pageRead(limit: string | undefined, cursor: string | undefined): CollectionRead {
  if (limit === undefined && cursor === undefined) return WHOLE;
  let n = DEFAULT_PAGE_LIMIT;
  if (limit !== undefined) {
    n = /^[0-9]{1,7}$/.test(limit) ? Number(limit) : Number.NaN;
    if (!(n >= 1 && n <= MAX_PAGE_LIMIT)) throw new MeridianError('MERIDIAN_VALIDATION', `expected limit to be an integer from 1 to ${MAX_PAGE_LIMIT} (got ${JSON.stringify(limit)})`);
  }
  return { kind: 'page', limit: n, after: cursor === undefined ? undefined : decodeCursor(cursor) };
}

function decodeCursor(cursor: string): string {
  const bytes = /^[A-Za-z0-9_-]{1,8192}$/.test(cursor) ? Buffer.from(cursor, 'base64url') : undefined;
  // Canonical base64url only (re-encoding gives it back) and UTF-8 text: one position, one cursor.
  if (bytes !== undefined && bytes.length > 0 && bytes.toString('base64url') === cursor) {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      // not UTF-8: refused below
    }
  }
  throw new MeridianError('MERIDIAN_INVALID_CURSOR', `the cursor ${JSON.stringify(cursor.slice(0, 64))} is not one this API gave out: pass the \`next\` of the previous page unchanged`);
}

/** A set element read from its path segment: the element as JSON text (any spacing; compared canonically). */
export function elementRead(segment: string): CollectionRead {
  let value: unknown;
  try {
    value = JSON.parse(segment);
  } catch {
    throw new MeridianError('MERIDIAN_INVALID_ELEMENT', `the element ${JSON.stringify(segment.slice(0, 64))} is not JSON: a string element is written with its quotes, e.g. …/elements/%22apple%22`);
  }
  if (nestedDeeperThan(value, MAX_JSON_DEPTH)) throw new MeridianError('MERIDIAN_VALUE_TOO_DEEP', `the element nests arrays and objects more than ${MAX_JSON_DEPTH} levels deep`);
  try {
    return { kind: 'element', text: canonicalJson(value, 'set element') };
  } catch (error) {
    throw new MeridianError('MERIDIAN_INVALID_ELEMENT', `the element is not a set element: ${(error as Error).message}`);
  }
}
