/**
 * Registers (`lww`, `mv`) as DVV sets of versions. Pure: the service stores what this returns.
 *
 * - Each version carries its JSON value (or none: a tombstone), its HLC and the traceparent of
 *   the write that made it (conflict spans link to it later).
 * - `mv`: a write supersedes exactly the versions its context covers; the rest stay siblings.
 *   A blind write (no context) is concurrent with everything and adds a sibling.
 * - `lww`: a local write supersedes every local version (its HLC is above the key's highest, so
 *   it would win anyway) AND every version its client's context names, seen here or not yet: the
 *   HLC only orders versions that are concurrent, so a write whose client read a version
 *   supersedes it whatever the clocks say (the region that wrote it may run ahead of this one's).
 *   Concurrent versions meet only when replicas merge, and the merge keeps the winner by
 *   (HLC, dot) — see `lwwWinner`.
 * - Either policy absorbs the client's context whole: a version it names that has not arrived
 *   here yet is superseded on arrival (`DvvSet.update`), so a write with a context never needs to
 *   wait for what the context names.
 * - A deleted key keeps its causal context (the tombstone version), so a later write and a late
 *   replay are ordered correctly.
 */
import { compareStamped, DvvSet, type ActorId, type Dot, type Hlc, type Version, type VersionVector } from '@meridian/causality';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export interface RegisterVersion {
  /** undefined: a tombstone. */
  readonly value: Json | undefined;
  readonly hlc: Hlc;
  readonly traceparent: string | undefined;
}

export type RegisterSet = DvvSet<RegisterVersion>;
export type RegisterPolicy = 'lww' | 'mv';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Refuses what `decoder` would replace (invalid UTF-8) and keeps a leading U+FEFF that `decoder` would drop. */
const exactDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** A version's JSON text, as `encodeRegisterVersion` writes it. */
function versionText(v: RegisterVersion): string {
  const o: Record<string, unknown> = { h: v.hlc.toString(16) };
  if (v.value === undefined) o['d'] = 1;
  else o['v'] = v.value;
  if (v.traceparent) o['t'] = v.traceparent;
  return JSON.stringify(o);
}

/** The text of bytes that are valid UTF-8 not starting with U+FEFF (`decoder` reads them as exactly that text); otherwise undefined. */
function exactText(bytes: Uint8Array): string | undefined {
  let text: string;
  try {
    text = exactDecoder.decode(bytes);
  } catch {
    return undefined;
  }
  return text.charCodeAt(0) === 0xfeff ? undefined : text;
}

function parseVersion(text: string): RegisterVersion {
  const o = JSON.parse(text) as { h?: unknown; v?: Json; d?: unknown; t?: unknown };
  if (typeof o.h !== 'string' || !/^[0-9a-f]{1,16}$/.test(o.h)) throw new Error('register version without a valid hlc');
  return { value: o.d === 1 ? undefined : (o.v ?? null), hlc: BigInt(`0x${o.h}`), traceparent: typeof o.t === 'string' ? o.t : undefined };
}

export function encodeRegisterVersion(v: RegisterVersion): Uint8Array {
  return encoder.encode(versionText(v));
}

export function decodeRegisterVersion(bytes: Uint8Array): RegisterVersion {
  return parseVersion(decoder.decode(bytes));
}

export function encodeRegisterSet(set: RegisterSet): Uint8Array {
  return set.encode(encodeRegisterVersion);
}

/** Version values are decoded from views of `bytes` (decodeRegisterVersion keeps nothing of them). */
const VALUE_VIEWS = { valueViews: true } as const;

export function decodeRegisterSet(bytes: Uint8Array): RegisterSet {
  return DvvSet.decode(bytes, decodeRegisterVersion, VALUE_VIEWS);
}

/** What an lww write's decoding puts in place of the values it does not parse (never stored: the write supersedes them). */
const SUPERSEDED: RegisterVersion = Object.freeze({ value: undefined, hlc: 0n, traceparent: undefined });

/**
 * The stored set as a local write of `policy` needs it. An lww write supersedes every version
 * the key holds (`writeRegister`), so for lww the dots and the context are decoded and checked
 * as `decodeRegisterSet` does, but the versions' values are not parsed (their JSON was most of
 * the decoding's cost). `writeRegister` refuses a set in which such a version would survive.
 */
export function decodeRegisterSetForWrite(bytes: Uint8Array, policy: RegisterPolicy): RegisterSet {
  return policy === 'lww' ? DvvSet.decode(bytes, () => SUPERSEDED, VALUE_VIEWS) : decodeRegisterSet(bytes);
}

/**
 * `decodeRegisterSet`, and whether `bytes` are exactly what `encodeRegisterSet` writes for the
 * set (`canonical`): then they can be stored as they are instead of encoding the set again. The
 * set's own encoding is a bijection (@meridian/causality refuses every other form of the same
 * set), so the bytes are canonical when each version's are: valid UTF-8 without a leading
 * U+FEFF, of exactly the JSON text `encodeRegisterVersion` writes for the decoded version.
 * Whatever is not canonical decodes as `decodeRegisterSet` decodes it.
 */
export function decodeRegisterSetExact(bytes: Uint8Array): { set: RegisterSet; canonical: boolean } {
  let canonical = true;
  const set = DvvSet.decode(bytes, (b) => {
    const text = canonical ? exactText(b) : undefined;
    if (text === undefined) {
      canonical = false;
      return decodeRegisterVersion(b);
    }
    const version = parseVersion(text);
    if (versionText(version) !== text) canonical = false;
    return version;
  }, VALUE_VIEWS);
  return { set, canonical };
}

/** A local write (or delete, with `value` undefined) of a register. */
export function writeRegister(
  set: RegisterSet,
  policy: RegisterPolicy,
  clientContext: VersionVector | undefined,
  actor: ActorId,
  version: RegisterVersion,
): { set: RegisterSet; dot: Dot } {
  const context = policy === 'lww' ? (clientContext === undefined ? set.context() : set.context().join(clientContext)) : clientContext;
  const written = set.update(context, actor, version);
  if (written.set.versions().some((v) => v.value === SUPERSEDED)) throw new Error(`a ${policy} write kept a version whose value was never decoded (decodeRegisterSetForWrite)`);
  return written;
}

/** The LWW winner among versions: highest (HLC, dot). */
export function lwwWinner(versions: readonly Version<RegisterVersion>[]): Version<RegisterVersion> | undefined {
  let best: Version<RegisterVersion> | undefined;
  for (const v of versions) {
    if (!best || compareStamped({ hlc: v.value.hlc, dot: v.dot }, { hlc: best.value.hlc, dot: best.dot }) > 0) best = v;
  }
  return best;
}

export type RegisterView =
  | { readonly kind: 'absent' }
  | { readonly kind: 'deleted' }
  | { readonly kind: 'value'; readonly value: Json }
  | { readonly kind: 'values'; readonly values: Json[] };

/** What a read shows: the LWW winner, or every live `mv` sibling in (HLC, dot) order. */
export function viewRegister(set: RegisterSet, policy: RegisterPolicy): RegisterView {
  const versions = set.versions();
  if (versions.length === 0) return { kind: 'absent' };
  if (policy === 'lww') {
    const winner = lwwWinner(versions)!;
    return winner.value.value === undefined ? { kind: 'deleted' } : { kind: 'value', value: winner.value.value };
  }
  const live = versions
    .filter((v) => v.value.value !== undefined)
    .sort((a, b) => compareStamped({ hlc: a.value.hlc, dot: a.dot }, { hlc: b.value.hlc, dot: b.dot }));
  return live.length === 0 ? { kind: 'deleted' } : { kind: 'values', values: live.map((v) => v.value.value as Json) };
}
