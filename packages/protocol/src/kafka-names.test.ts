import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { kafkaMessageKey, parseKafkaMessageKey, updatesTopic } from './kafka-names.ts';
import { keyArb, namespaceArb } from './record-arbitraries.ts';

describe('Kafka names', () => {
  it('topic per region', () => {
    expect(updatesTopic('eu')).toBe('meridian.eu.updates');
    expect(updatesTopic('us-east-1')).toBe('meridian.us-east-1.updates');
  });

  it('refuses a region that is not a region name', () => {
    for (const bad of ['', 'EU', 'eu.west', 'eu/x', '1eu']) expect(() => updatesTopic(bad)).toThrow(/region/);
  });

  it('message key is namespace/key, and a key may contain slashes', () => {
    expect(kafkaMessageKey('users', 'alice')).toBe('users/alice');
    expect(kafkaMessageKey('files', 'a/b/c')).toBe('files/a/b/c');
    expect(parseKafkaMessageKey('files/a/b/c')).toEqual({ namespace: 'files', key: 'a/b/c' });
  });

  it('is injective: distinct (namespace, key) pairs never share a message key', () => {
    fc.assert(
      fc.property(namespaceArb, keyArb, (namespace, key) => {
        expect(parseKafkaMessageKey(kafkaMessageKey(namespace, key))).toEqual({ namespace, key });
      }),
    );
  });

  it("refuses a namespace containing '/' (it would make the key ambiguous) and empty parts", () => {
    expect(() => kafkaMessageKey('a/b', 'c')).toThrow(expect.objectContaining({ code: 'MERIDIAN_ENVELOPE_INVALID' }));
    expect(() => kafkaMessageKey('', 'c')).toThrow(/namespace/);
    expect(() => kafkaMessageKey('a', '')).toThrow(/key/);
    expect(() => parseKafkaMessageKey('no-slash')).toThrow(/message key/);
    expect(() => parseKafkaMessageKey('/key')).toThrow(/namespace/);
    expect(() => parseKafkaMessageKey('ns/')).toThrow(/key/);
  });
});
