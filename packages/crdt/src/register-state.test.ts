import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DvvSet } from '@meridian/causality';
import { decodeRegisterSet, decodeRegisterSetExact, decodeRegisterSetForWrite, encodeRegisterSet, writeRegister, type Json, type RegisterSet, type RegisterVersion } from './register-state.ts';
import { mergeRegister } from './register-merge.ts';

const ACTORS = ['eu.1', 'us.1', 'ap.1'] as const;
const encoder = new TextEncoder();
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

const versionArb: fc.Arbitrary<RegisterVersion> = fc.record({
  value: fc.option(fc.jsonValue() as fc.Arbitrary<Json>, { nil: undefined }),
  hlc: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
  traceparent: fc.option(fc.constantFrom('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', 'x'), { nil: undefined }),
});

/** Register sets built by writes (blind or not) and syncs of three regions. */
const setArb: fc.Arbitrary<RegisterSet> = fc
  .array(fc.record({ actor: fc.integer({ min: 0, max: 2 }), from: fc.integer({ min: 0, max: 2 }), write: fc.boolean(), blind: fc.boolean(), version: versionArb }), { maxLength: 8 })
  .map((steps) => {
    const sets: RegisterSet[] = ACTORS.map(() => DvvSet.empty<RegisterVersion>());
    for (const s of steps) {
      const set = sets[s.actor]!;
      sets[s.actor] = s.write ? set.update(s.blind ? undefined : set.context(), ACTORS[s.actor]!, s.version).set : set.sync(sets[s.from]!);
    }
    return sets[0]!.sync(sets[1]!);
  });

/** Other texts of a version that decode to the same version (or, for the last ones, as the lenient decoder reads them). */
const VARIANTS = ['canonical', 'spaced', 'reordered', 'extra-field', 'escaped', 'bom', 'invalid-utf8'] as const;
type Variant = (typeof VARIANTS)[number];

function variantBytes(v: RegisterVersion, variant: Variant): Uint8Array {
  const fields: [string, unknown][] = [['h', v.hlc.toString(16)], v.value === undefined ? ['d', 1] : ['v', v.value]];
  if (v.traceparent) fields.push(['t', v.traceparent]);
  const text = (entries: [string, unknown][]): string => JSON.stringify(Object.fromEntries(entries));
  switch (variant) {
    case 'canonical':
      return encoder.encode(text(fields));
    case 'spaced':
      return encoder.encode(JSON.stringify(Object.fromEntries(fields), null, 1));
    case 'reordered':
      return encoder.encode(text([...fields].reverse()));
    case 'extra-field':
      return encoder.encode(text([...fields, ['x', 1]]));
    case 'escaped':
      return encoder.encode(text(fields).replace('"h"', '"\\u0068"'));
    case 'bom':
      return Uint8Array.from([0xef, 0xbb, 0xbf, ...encoder.encode(text(fields))]);
    case 'invalid-utf8': {
      // A truncated 4-byte sequence in the traceparent, which the lenient decoder reads as U+FFFD:
      // the text it reads is the canonical text of a version, the bytes are not that text's.
      const bytes = encoder.encode(text([...fields.filter(([name]) => name !== 't'), ['t', `${v.traceparent ?? ''}\uFFFD`]]));
      const at = Buffer.from(bytes).indexOf(Buffer.from([0xef, 0xbf, 0xbd]));
      bytes.set([0xf0, 0x9f, 0x98], at);
      return bytes;
    }
  }
}

describe('decodeRegisterSetForWrite', () => {
  it('gives a local write of either policy the same set, state and dot as the full decoding', () => {
    fc.assert(
      fc.property(setArb, fc.constantFrom('lww' as const, 'mv' as const), fc.boolean(), versionArb, (stored, policy, withContext, version) => {
        const bytes = encodeRegisterSet(stored);
        const context = withContext ? stored.context() : undefined;
        const full = writeRegister(decodeRegisterSet(bytes), policy, context, 'eu.1', version);
        const fast = writeRegister(decodeRegisterSetForWrite(bytes, policy), policy, context, 'eu.1', version);
        expect(hex(encodeRegisterSet(fast.set))).toBe(hex(encodeRegisterSet(full.set)));
        expect(fast.dot).toEqual(full.dot);
      }),
    );
  });

  it('refuses the bytes decodeRegisterSet refuses', () => {
    const bytes = encodeRegisterSet(DvvSet.empty<RegisterVersion>().update(undefined, 'eu.1', { value: 1, hlc: 1n, traceparent: undefined }).set);
    for (const broken of [bytes.subarray(0, bytes.length - 1), Uint8Array.from([...bytes, 0])]) {
      expect(() => decodeRegisterSet(broken)).toThrow();
      expect(() => decodeRegisterSetForWrite(broken, 'lww')).toThrow();
    }
  });

  it('never lets a version it did not decode survive a write', () => {
    const bytes = encodeRegisterSet(DvvSet.empty<RegisterVersion>().update(undefined, 'us.1', { value: 'old', hlc: 1n, traceparent: undefined }).set);
    // Treated as an mv write without context, the undecoded version would stay a sibling.
    expect(() => writeRegister(decodeRegisterSetForWrite(bytes, 'lww'), 'mv', undefined, 'eu.1', { value: 'new', hlc: 2n, traceparent: undefined })).toThrow(/never decoded/);
  });
});

describe('decodeRegisterSetExact', () => {
  it('decodes what encodeRegisterSet wrote, and says the bytes are canonical', () => {
    fc.assert(
      fc.property(setArb, (set) => {
        const bytes = encodeRegisterSet(set);
        const exact = decodeRegisterSetExact(bytes);
        expect(exact.canonical).toBe(true);
        expect(hex(encodeRegisterSet(exact.set))).toBe(hex(bytes));
      }),
      { numRuns: 300 },
    );
  });

  it('decodes any bytes as decodeRegisterSet does, and calls them canonical exactly when they re-encode to themselves', () => {
    fc.assert(
      fc.property(setArb, fc.array(fc.constantFrom(...VARIANTS), { minLength: 1, maxLength: 8 }), (set, variants) => {
        let i = 0;
        const bytes = set.encode((v) => variantBytes(v, variants[i++ % variants.length]!));
        let lenient: RegisterSet | Error;
        try {
          lenient = decodeRegisterSet(bytes);
        } catch (error) {
          lenient = error as Error;
        }
        if (lenient instanceof Error) {
          expect(() => decodeRegisterSetExact(bytes)).toThrow(lenient.message);
          return;
        }
        const exact = decodeRegisterSetExact(bytes);
        expect(hex(encodeRegisterSet(exact.set))).toBe(hex(encodeRegisterSet(lenient)));
        expect(exact.set.values()).toEqual(lenient.values());
        expect(exact.canonical).toBe(hex(encodeRegisterSet(exact.set)) === hex(bytes));
      }),
      { numRuns: 300 },
    );
  });

  it('a version in any other text than the canonical one makes the bytes not canonical', () => {
    const set = DvvSet.empty<RegisterVersion>().update(undefined, 'eu.1', { value: { a: [1, 'b'] }, hlc: 77n, traceparent: 'x' }).set;
    for (const variant of VARIANTS) {
      const bytes = set.encode((v) => variantBytes(v, variant));
      expect([variant, decodeRegisterSetExact(bytes).canonical]).toEqual([variant, variant === 'canonical']);
      const read = variant === 'invalid-utf8' ? set.values().map((v) => ({ ...v, traceparent: `${v.traceparent}\uFFFD` })) : set.values();
      expect(decodeRegisterSetExact(bytes).set.values()).toEqual(read);
    }
  });
});

describe('a write with the context its client read elsewhere (causal writes, DESIGN §6)', () => {
  const v = (value: Json | undefined, hlc: bigint): RegisterVersion => ({ value, hlc, traceparent: undefined });

  it('lww: supersedes the version its client read even when it arrives later with a higher HLC (skewed clocks)', () => {
    // us runs an hour ahead: its version's HLC is far above anything eu stamps.
    const us = writeRegister(DvvSet.empty<RegisterVersion>(), 'lww', undefined, 'us.1', v('us, clock ahead', 3_600_000n << 16n)).set;
    // The client read us's version (its context) and writes at eu, which has not applied it yet.
    const eu = writeRegister(DvvSet.empty<RegisterVersion>(), 'lww', us.context(), 'eu.1', v('eu, later', 1n << 16n)).set;
    for (const merged of [mergeRegister('ns', 'k', eu, us, 'lww'), mergeRegister('ns', 'k', us, eu, 'lww')]) {
      expect(merged.next.values().map((x) => x.value)).toEqual(['eu, later']);
      // Not a conflict: the client saw us's version, so the two are not concurrent.
      expect(merged.conflict).toBeUndefined();
    }
  });

  it('either policy: no version the client\'s context names survives any later merge, in any order', () => {
    fc.assert(
      fc.property(setArb, fc.option(versionArb, { nil: undefined }), fc.constantFrom('lww' as const, 'mv' as const), versionArb, (read, local, policy, version) => {
        // `read` is what the client read in other regions; `here` what the writing region (actor
        // ap.9, new to `read`) holds: nothing of `read`, maybe a version of its own.
        const here = local === undefined ? DvvSet.empty<RegisterVersion>() : DvvSet.empty<RegisterVersion>().update(undefined, 'ap.9', local).set;
        const written = writeRegister(here, policy, read.context(), 'ap.9', version).set;
        for (const merged of [mergeRegister('ns', 'k', written, read, policy).next, mergeRegister('ns', 'k', read, written, policy).next]) {
          for (const seen of read.versions()) if (read.context().contains(seen.dot)) expect(merged.versions().some((x) => x.dot.actor === seen.dot.actor && x.dot.counter === seen.dot.counter)).toBe(false);
          // The write itself survives under mv (nothing supersedes it); under lww one version is left.
          if (policy === 'mv') expect(merged.versions().some((x) => x.dot.actor === 'ap.9' && x.value === version)).toBe(true);
          else expect(merged.versions()).toHaveLength(1);
        }
      }),
    );
  });
});
