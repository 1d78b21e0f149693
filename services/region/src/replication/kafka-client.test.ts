/** The response framer under kafkajs's sockets: only whole size-prefixed frames pass, however the bytes are split. */
import { describe, expect, it } from 'vitest';
import { PassThrough } from 'node:stream';
import type { Socket } from 'node:net';
import fc from 'fast-check';
import { deliverWholeResponses, ResponseFramer } from './kafka-client.ts';

const frame = (body: string): Buffer => {
  const b = Buffer.from(body);
  const size = Buffer.alloc(4);
  size.writeInt32BE(b.length);
  return Buffer.concat([size, b]);
};

describe('ResponseFramer', () => {
  it('passes a chunk of whole frames on as it is', () => {
    const chunk = Buffer.concat([frame('a'), frame('bc'), frame('')]);
    const out = new ResponseFramer().push(chunk)!;
    expect(out).toHaveLength(1);
    expect(out[0]).toBe(chunk);
  });

  it('holds a partial frame back until it completes, the size prefix split too', () => {
    const framer = new ResponseFramer();
    const f = frame('hello');
    expect(framer.push(f.subarray(0, 2))).toBeUndefined();
    expect(framer.push(f.subarray(2, 6))).toBeUndefined();
    expect(framer.pending).toBe(6);
    const rest = Buffer.concat([f.subarray(6), frame('x').subarray(0, 3)]);
    const out = framer.push(rest)!;
    expect(out).toHaveLength(3); // the chunks as they came, the last cut at the frame's end: no copy
    expect(Buffer.concat(out)).toEqual(f);
    expect(framer.pending).toBe(3);
  });

  it('yields exactly the frames, in order, for any split of the stream', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ maxLength: 40 }), { maxLength: 8 }), fc.array(fc.nat(), { maxLength: 10 }), (bodies, cuts) => {
        const stream = Buffer.concat(bodies.map(frame));
        const at = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
        const boundaries = new Set([0]);
        bodies.reduce((end, b) => (boundaries.add(end + 4 + Buffer.byteLength(b)), end + 4 + Buffer.byteLength(b)), 0);
        const framer = new ResponseFramer();
        const out: Buffer[] = [];
        let from = 0;
        for (const to of [...at, stream.length]) {
          const whole = framer.push(stream.subarray(from, to));
          if (whole) out.push(...whole);
          expect(boundaries.has(out.reduce((n, b) => n + b.length, 0))).toBe(true); // only whole frames so far
          from = to;
        }
        expect(Buffer.concat(out)).toEqual(stream);
        expect(framer.pending).toBe(0);
      }),
    );
  });

  it('passes bytes that are not size-prefixed frames on unchanged', () => {
    const junk = Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2]);
    expect(new ResponseFramer().push(junk)).toEqual([junk]);
  });
});

describe('deliverWholeResponses', () => {
  it('emits only whole frames as data; a half frame stays with its socket', () => {
    const socket = deliverWholeResponses(new PassThrough() as unknown as Socket);
    const seen: Buffer[] = [];
    socket.on('data', (d: Buffer) => seen.push(d));
    const f = frame('response');
    socket.emit('data', f.subarray(0, 5));
    expect(seen).toEqual([]);
    socket.emit('data', Buffer.concat([f.subarray(5), frame('next').subarray(0, 4)]));
    expect(Buffer.concat(seen)).toEqual(f);
    let closed = false;
    socket.on('close', () => (closed = true));
    socket.emit('close'); // other events pass through
    expect(closed).toBe(true);
  });
});
