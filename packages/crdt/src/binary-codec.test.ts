/**
 * Strict decoding of the binary building blocks: every non-canonical or out-of-range input is refused, so
 * every encoding stays a bijection (equal states, equal bytes; bytes that decode re-encode to themselves).
 */
import { CausalContext } from '@meridian/causality';
import { describe, expect, it } from 'vitest';
import { ActorTable, ByteReader, ByteWriter, TypeByte } from './binary-codec.ts';
import { CrdtError } from './crdt-error.ts';
import { ORSet } from './or-set.ts';

function reader(...bytes: number[]): ByteReader {
  return new ByteReader(Uint8Array.from(bytes));
}

describe('binary codec', () => {
  it('round-trips varints, signed integers, HLCs and strings', () => {
    const values = [0, 1, 127, 128, 300, 2 ** 32, Number.MAX_SAFE_INTEGER];
    const w = new ByteWriter();
    for (const v of values) w.uint(v).int(-v);
    w.hlc(0xfedcba9876543210n).string('é😀');
    const r = new ByteReader(w.finish());
    for (const v of values) {
      expect(r.uint('u')).toBe(v);
      expect(r.int('i')).toBe(v === 0 ? 0 : -v);
    }
    expect(r.hlc('h')).toBe(0xfedcba9876543210n);
    expect(r.string('s')).toBe('é😀');
    r.end();
  });

  it('refuses non-canonical or out-of-range input', () => {
    expect(() => reader(0x80, 0x00).uint('v')).toThrow(/non-canonical varint/);
    expect(() => reader(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f).uint('v')).toThrow(/safe integer range/);
    expect(() => reader(0x01, 0x00).int('v')).toThrow(/non-canonical sign/);
    expect(() => reader(0x02, 0x05).int('v')).toThrow(/non-canonical sign/);
    expect(() => reader(0x02, 0xc3, 0x28).string('s')).toThrow(/not valid UTF-8/);
    expect(() => reader(0x05, 0x61).string('s')).toThrow(/truncated/);
    expect(() => reader(0xff).count('items')).toThrow(CrdtError);
    expect(() => new ByteWriter().string('\ud800')).toThrow(/well-formed/);
  });

  it('actor tables must be sorted, valid and fully used', () => {
    const table = (actors: string[]): ByteReader => {
      const w = new ByteWriter().uint(actors.length);
      for (const a of actors) w.string(a);
      return new ByteReader(w.finish());
    };
    expect(() => ActorTable.read(table(['us.1', 'eu.1']))).toThrow(/out of order/);
    expect(() => ActorTable.read(table(['EU']))).toThrow(/invalid actor id/);
    const unused = ActorTable.read(table(['eu.1', 'us.1']));
    unused.readDot(reader(0, 1));
    expect(() => unused.assertAllUsed()).toThrow(/unused actors: us\.1/);
  });

  it('an OR-Set element must be stored under its canonical text, in order', () => {
    const craft = (elements: string[]): Uint8Array => {
      const dots = elements.map((_, i) => ({ actor: 'eu.1', counter: i + 1 }));
      const w = new ByteWriter().header(TypeByte.ORSet).bytes(CausalContext.fromDots(dots).encode());
      const t = ActorTable.of(dots);
      t.write(w);
      w.uint(elements.length);
      elements.forEach((text, i) => {
        w.string(text);
        t.writeDots(w, [dots[i] ?? { actor: 'eu.1', counter: 1 }]);
      });
      return w.finish();
    };
    expect(ORSet.decode(craft(['"a"', '{"a":1,"b":2}'])).values()).toEqual(['a', { a: 1, b: 2 }]);
    expect(() => ORSet.decode(craft(['{"b":2,"a":1}']))).toThrow(/not canonical/);
    expect(() => ORSet.decode(craft(['1.0']))).toThrow(/not canonical/);
    expect(() => ORSet.decode(craft(['"b"', '"a"']))).toThrow(/out of order/);
    expect(() => ORSet.decode(craft(['nope']))).toThrow(/not JSON/);
  });
});
