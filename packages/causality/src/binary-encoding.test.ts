import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { dotArb, hex, wideVectorArb } from './arbitraries.ts';
import { CausalContext } from './causal-context.ts';
import { CausalityError, CausalityErrorCode } from './causality-error.ts';
import { DvvSet } from './dvv-set.ts';
import { VersionVector } from './version-vector.ts';

/** Each encoding as a pair of total functions over bytes, with arbitrary valid values to mutate. */
const KINDS = [
  {
    name: 'VersionVector',
    kind: 0x56,
    roundTrip: (bytes: Uint8Array) => VersionVector.decode(bytes).encode(),
    valid: wideVectorArb.map((v) => v.encode()),
  },
  {
    name: 'CausalContext',
    kind: 0x43,
    roundTrip: (bytes: Uint8Array) => CausalContext.decode(bytes).encode(),
    valid: fc.array(dotArb(300), { maxLength: 12 }).map((dots) => CausalContext.fromDots(dots).encode()),
  },
  {
    name: 'DvvSet',
    kind: 0x44,
    roundTrip: (bytes: Uint8Array) => DvvSet.decode(bytes, (b) => b).encode((b) => b),
    valid: fc
      .array(fc.tuple(fc.constantFrom('eu.1', 'us.1', 'eu.10'), fc.boolean(), fc.uint8Array({ maxLength: 4 })), { maxLength: 8 })
      .map((writes) => writes.reduce((set, [actor, blind, value]) => set.update(blind ? undefined : set.context(), actor, value).set, DvvSet.empty<Uint8Array>()).encode((b) => b)),
  },
] as const;

/** Decoding is total and canonical: bytes either decode to a value that re-encodes to them, or are refused with a CausalityError. */
function expectStrict(roundTrip: (bytes: Uint8Array) => Uint8Array, bytes: Uint8Array): void {
  let again: Uint8Array;
  try {
    again = roundTrip(bytes);
  } catch (error) {
    expect(error).toBeInstanceOf(CausalityError);
    return;
  }
  expect(hex(again)).toBe(hex(bytes));
}

describe.each(KINDS)('$name encoding', ({ kind, roundTrip, valid }) => {
  it('re-encodes valid bytes identically', () => {
    fc.assert(
      fc.property(valid, (bytes) => {
        expect(hex(roundTrip(bytes))).toBe(hex(bytes));
      }),
    );
  });

  it('decodes arbitrary bodies strictly: canonical or refused', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (body) => {
        expectStrict(roundTrip, Uint8Array.from([kind, 1, ...body]));
      }),
      { numRuns: 500 },
    );
  });

  it('decodes corrupted encodings strictly: canonical or refused', () => {
    fc.assert(
      fc.property(valid, fc.nat(), fc.integer({ min: 1, max: 255 }), fc.constantFrom('flip', 'truncate', 'append'), (bytes, at, delta, how) => {
        const i = 2 + (at % Math.max(bytes.length - 2, 1));
        const mutated =
          how === 'flip' ? bytes.map((b, j) => (j === i ? (b + delta) % 256 : b)) : how === 'truncate' ? bytes.slice(0, i) : Uint8Array.from([...bytes, delta]);
        expectStrict(roundTrip, mutated);
      }),
      { numRuns: 500 },
    );
  });

  it('refuses another kind, an unknown format version, and empty input', () => {
    for (const other of KINDS.filter((k) => k.kind !== kind)) {
      expect(() => roundTrip(Uint8Array.from([other.kind, 1, 0]))).toThrow(/not an encoded/);
    }
    expect(() => roundTrip(Uint8Array.from([kind, 2, 0]))).toThrow(/unsupported .* format version/);
    expect(() => roundTrip(new Uint8Array())).toThrow(CausalityError);
  });
});

describe('encoding details', () => {
  it('refuses a non-canonical varint, an overlong varint and an unsafe integer', () => {
    const eu1 = [2, 0x65, 0x75, 1];
    const refuse = (bytes: number[]): void => {
      const error = (() => {
        try {
          VersionVector.decode(Uint8Array.from(bytes));
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(error).toBeInstanceOf(CausalityError);
      expect((error as CausalityError).code).toBe(CausalityErrorCode.InvalidEncoding);
    };
    refuse([0x56, 1, 1, ...eu1, 0x81, 0x00]); // counter 1 written in two groups
    refuse([0x56, 1, 1, ...eu1, ...Array<number>(20).fill(0x80), 1]); // more groups than a safe integer needs
    refuse([0x56, 1, 1, ...eu1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x10]); // 2^53
    expect(VersionVector.decode(Uint8Array.from([0x56, 1, 1, ...eu1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f])).get('eu.1')).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('writes the documented layout', () => {
    // header 'V' v1, 2 actors: "eu".1 -> 3, "us".1 -> 300 (varint ac 02)
    expect(hex(VersionVector.from({ 'us.1': 300, 'eu.1': 3 }).encode())).toBe('5601' + '02' + '02657501' + '03' + '02757301' + 'ac02');
    // header 'C' v1, 1 actor "eu".1: vector 1, cloud [3, 4, 7] as gaps 0, 0, 2
    expect(hex(CausalContext.fromDots([1, 3, 4, 7].map((counter) => ({ actor: 'eu.1', counter }))).encode())).toBe('4301' + '01' + '02657501' + '01' + '03' + '000002');
  });
});
