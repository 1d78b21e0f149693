/**
 * Pages of a set or map in canonical order (set elements by canonical JSON text, map fields by
 * name; both compared as UTF-16 code units, the order the encodings use), so a reader can walk a
 * big collection in bounded answers. A page's position is the last entry it holds: the next page
 * starts strictly after it, so entries added or removed meanwhile never shift what follows (a
 * walk sees every entry present throughout it exactly once).
 */
import { compareCanonical } from './canonical-json.ts';
import { CrdtError, CrdtErrorCode } from './crdt-error.ts';

/** The keys of one page; `next` is the last of them when more follow, else undefined. */
export interface KeyPage {
  readonly keys: string[];
  readonly next: string | undefined;
}

/** The first `limit` keys after `after` (exclusive; undefined: from the start), sorted. */
export function pageKeys(keys: Iterable<string>, after: string | undefined, limit: number): KeyPage {
  if (!Number.isSafeInteger(limit) || limit < 1) throw new CrdtError(CrdtErrorCode.InvalidValue, `a page limit must be a positive integer (got ${String(limit)})`);
  const following: string[] = [];
  for (const key of keys) if (after === undefined || compareCanonical(key, after) > 0) following.push(key);
  // Plain sort() compares UTF-16 code units: the canonical order.
  following.sort();
  const page = following.length > limit ? following.slice(0, limit) : following;
  return { keys: page, next: following.length > limit ? page[page.length - 1] : undefined };
}
