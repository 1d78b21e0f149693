import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { actorArb, dotArb, hex, wideVectorArb } from './arbitraries.ts';
import { CausalContext } from './causal-context.ts';
import { CausalityError, CausalityErrorCode } from './causality-error.ts';
import { DvvSet } from './dvv-set.ts';
import { VersionVector } from './version-vector.ts';

/**
 * Each encoding's round trip: decode, then rebuild the value through its JSON form (the validating,
 * normalising constructors) and encode again; the bytes must come back unchanged. Going through
 * the constructors catches a decoder that accepts a non-canonical value which would merely
 * re-encode itself (a stored zero counter, say).
 */
/** Bytes of the encodings' building blocks, to generate well-formed but possibly invalid structures. */
function varint(n: number): number[] {
  const bytes: number[] = [];
  for (let rest = n; ; rest = Math.floor(rest / 128)) {
    if (rest < 128) return [...bytes, rest];
    bytes.push((rest % 128) | 0x80);
  }
}
function actorBytes(actor: string): number[] {
  const [region = '', epoch = '0'] = actor.split('.');
  return [region.length, ...Buffer.from(region, 'ascii'), ...varint(Number(epoch))];
}
/** A count that is usually right, sometimes one off (truncated input, trailing bytes). */
const countArb = (n: number): fc.Arbitrary<number> => fc.oneof({ weight: 8, arbitrary: fc.constant(n) }, { weight: 1, arbitrary: fc.constantFrom(n + 1, Math.max(n - 1, 0)) });
const smallArb = fc.oneof({ weight: 3, arbitrary: fc.nat({ max: 4 }) }, { weight: 1, arbitrary: fc.nat({ max: 300 }) });
/** Distinct actors, usually in the canonical order, sometimes not. */
const actorsArb = fc
  .tuple(fc.uniqueArray(actorArb, { maxLength: 3 }), fc.nat({ max: 5 }))
  .map(([actors, shuffle]) => (shuffle === 0 ? actors.reverse() : actors.sort()));
const contextBodyArb = actorsArb
  .chain((actors) => fc.tuple(fc.constant(actors), fc.array(fc.tuple(smallArb, fc.array(fc.constantFrom(0, 1, 2), { maxLength: 3 })), { minLength: actors.length, maxLength: actors.length })))
  .chain(([actors, fields]) =>
    countArb(actors.length).map((count) => ({
      actors: actors.length,
      bytes: [...varint(count), ...actors.flatMap((actor, i) => {
        const [top = 0, gaps = []] = fields[i] ?? [];
        return [...actorBytes(actor), ...varint(top), ...varint(gaps.length), ...gaps.flatMap(varint)];
      })],
    })),
  );

const DVV_SET = {
  name: 'DvvSet',
  kind: 0x44,
  decode: (bytes: Uint8Array) => DvvSet.decode(bytes, (b) => b),
  rebuild: (s: unknown) => DvvSet.fromJSON((s as DvvSet<Uint8Array>).toJSON(hex), (j) => Uint8Array.from(Buffer.from(j as string, 'hex'))).encode((b) => b),
  valid: fc
    .array(fc.tuple(fc.constantFrom('eu.1', 'us.1', 'eu.10'), fc.boolean(), fc.uint8Array({ maxLength: 4 })), { maxLength: 8 })
    .map((writes) => writes.reduce((set, [actor, blind, value]) => set.update(blind ? undefined : set.context(), actor, value).set, DvvSet.empty<Uint8Array>()).encode((b) => b)),
  structure: fc
    .tuple(contextBodyArb, fc.array(fc.tuple(fc.nat({ max: 3 }), fc.nat({ max: 5 }), fc.uint8Array({ maxLength: 2 })), { maxLength: 4 }))
    .chain(([context, versions]) =>
      countArb(versions.length).map((count) => [...context.bytes, ...varint(count), ...versions.flatMap(([index, counter, value]) => [...varint(index), ...varint(counter), ...varint(value.length), ...value])]),
    ),
} as const;

const KINDS = [
  {
    name: 'VersionVector',
    kind: 0x56,
    decode: (bytes: Uint8Array) => VersionVector.decode(bytes),
    rebuild: (v: unknown) => VersionVector.fromJSON((v as VersionVector).toJSON()).encode(),
    valid: wideVectorArb.map((v) => v.encode()),
    structure: actorsArb
      .chain((actors) => fc.tuple(fc.constant(actors), fc.array(smallArb, { minLength: actors.length, maxLength: actors.length }), countArb(actors.length)))
      .map(([actors, counters, count]) => [...varint(count), ...actors.flatMap((actor, i) => [...actorBytes(actor), ...varint(counters[i] ?? 0)])]),
  },
  {
    name: 'CausalContext',
    kind: 0x43,
    decode: (bytes: Uint8Array) => CausalContext.decode(bytes),
    rebuild: (c: unknown) => CausalContext.fromJSON((c as CausalContext).toJSON()).encode(),
    valid: fc.array(dotArb(300), { maxLength: 12 }).map((dots) => CausalContext.fromDots(dots).encode()),
    structure: contextBodyArb.map(({ bytes }) => bytes),
  },
  DVV_SET,
  // The same, with each value handed to the decoder as a view of the input (what registers use).
  { ...DVV_SET, name: 'DvvSet (values as views)', decode: (bytes: Uint8Array) => DvvSet.decode(bytes, (b) => b.slice(), { valueViews: true }) },
] as const;

/** Decoding is total and canonical: bytes are refused with an InvalidEncoding error, or decode to a value that is rebuilt to the same bytes. */
function expectStrict({ decode, rebuild }: (typeof KINDS)[number], bytes: Uint8Array): 'accepted' | 'refused' {
  let decoded: unknown;
  try {
    decoded = decode(bytes);
  } catch (error) {
    expect(error).toBeInstanceOf(CausalityError);
    expect((error as CausalityError).code).toBe(CausalityErrorCode.InvalidEncoding);
    return 'refused';
  }
  expect(hex(rebuild(decoded))).toBe(hex(bytes));
  return 'accepted';
}

const roundTrip = (k: (typeof KINDS)[number]) => (bytes: Uint8Array): Uint8Array => k.rebuild(k.decode(bytes));

describe.each(KINDS)('$name encoding', (codec) => {
  const { kind, valid } = codec;
  it('re-encodes valid bytes identically', () => {
    fc.assert(
      fc.property(valid, (bytes) => {
        expect(hex(roundTrip(codec)(bytes))).toBe(hex(bytes));
      }),
    );
  });

  it('decodes arbitrary bodies strictly: canonical or refused', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (body) => {
        expectStrict(codec, Uint8Array.from([kind, 1, ...body]));
      }),
      { numRuns: 500 },
    );
  });

  it('decodes well-formed but possibly invalid structures strictly: canonical or refused', () => {
    const outcomes = { accepted: 0, refused: 0 };
    fc.assert(
      fc.property(codec.structure, (body) => {
        outcomes[expectStrict(codec, Uint8Array.from([kind, 1, ...body]))]++;
      }),
      { numRuns: 1000 },
    );
    // Both outcomes were exercised, often.
    expect(outcomes.accepted).toBeGreaterThan(50);
    expect(outcomes.refused).toBeGreaterThan(50);
  });

  it('decodes corrupted encodings strictly: canonical or refused', () => {
    fc.assert(
      fc.property(valid, fc.nat(), fc.oneof(fc.constantFrom(0, 1, 2, 0x7f, 0x80, 0xff), fc.nat({ max: 255 })), fc.constantFrom('set', 'truncate', 'append'), (bytes, at, byte, how) => {
        const i = 2 + (at % Math.max(bytes.length - 2, 1));
        const mutated = how === 'set' ? bytes.map((b, j) => (j === i ? byte : b)) : how === 'truncate' ? bytes.slice(0, i) : Uint8Array.from([...bytes, byte]);
        expectStrict(codec, mutated);
      }),
      { numRuns: 1000 },
    );
  });

  it('refuses another kind, an unknown format version, and empty input', () => {
    for (const other of KINDS.filter((k) => k.kind !== kind)) {
      expect(() => codec.decode(Uint8Array.from([other.kind, 1, 0]))).toThrow(/not an encoded/);
    }
    expect(() => codec.decode(Uint8Array.from([kind, 2, 0]))).toThrow(/unsupported .* format version/);
    expect(() => codec.decode(new Uint8Array())).toThrow(CausalityError);
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
    refuse([0x56, 1, 1, ...eu1, 0x00]); // a zero counter, which the canonical form omits
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
