/**
 * Digests of replicated state, for `GET /v1/digest` and anti-entropy (DESIGN §8): two regions
 * hold the same data iff their digests match (up to SHA-256 collisions).
 *
 * A key's digest is SHA-256 of its state's canonical encoding (equal states have equal bytes, so
 * equal digests, whatever the order of the joins that built them). A namespace's digest combines
 * its keys' digests order-independently: the sum mod 2^256 of SHA-256(u32 length of key ‖ key ‖
 * key digest). A sum (not XOR) so that a pair of equal entries does not cancel out, and
 * subtractable, so the service can maintain it incrementally (`DigestAccumulator.replace`) as keys
 * change. The key's length prefix keeps ("ab", d) and ("a", "b" ‖ d) apart.
 */
import { describeValue } from '@meridian/causality';
import { createHash } from 'node:crypto';
import { CrdtError, CrdtErrorCode } from './crdt-error.ts';

const MODULUS = 1n << 256n;
const HEX_DIGEST = /^[0-9a-f]{64}$/;
const utf8 = new TextEncoder();

/** SHA-256 of canonical state bytes, as 64 lower-case hex digits. */
export function digest(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The order-independent digest of a set of (key, key digest) pairs (keys distinct). */
export function combineDigests(entries: Iterable<readonly [key: string, keyDigest: string]>): string {
  const accumulator = new DigestAccumulator();
  for (const [key, keyDigest] of entries) accumulator.add(key, keyDigest);
  return accumulator.digest();
}

/** A namespace digest kept up to date as keys are added, removed and changed. */
export class DigestAccumulator {
  #sum = 0n;
  #count = 0;

  add(key: string, keyDigest: string): this {
    this.#sum = (this.#sum + entryHash(key, keyDigest)) % MODULUS;
    this.#count++;
    return this;
  }

  /** Takes back an entry added before (the caller must pass the same pair). */
  remove(key: string, keyDigest: string): this {
    this.#sum = (this.#sum - entryHash(key, keyDigest) + MODULUS) % MODULUS;
    this.#count--;
    return this;
  }

  replace(key: string, oldDigest: string, newDigest: string): this {
    return this.remove(key, oldDigest).add(key, newDigest);
  }

  /** Number of entries currently summed. */
  get size(): number {
    return this.#count;
  }

  /** 64 lower-case hex digits; all zeros for no keys. */
  digest(): string {
    return this.#sum.toString(16).padStart(64, '0');
  }
}

function entryHash(key: string, keyDigest: string): bigint {
  if (typeof key !== 'string' || !key.isWellFormed()) throw new CrdtError(CrdtErrorCode.InvalidValue, `a digest key must be a well-formed string (got ${describeValue(key)})`);
  if (typeof keyDigest !== 'string' || !HEX_DIGEST.test(keyDigest)) throw new CrdtError(CrdtErrorCode.InvalidValue, `a key digest must be 64 lower-case hex digits (got ${describeValue(keyDigest)})`);
  const keyBytes = utf8.encode(key);
  const length = new Uint8Array(4);
  new DataView(length.buffer).setUint32(0, keyBytes.length);
  const hash = createHash('sha256').update(length).update(keyBytes).update(Buffer.from(keyDigest, 'hex')).digest('hex');
  return BigInt(`0x${hash}`);
}
