/**
 * How each state type's golden fixtures are read: decode the bytes, give the JSON form and the
 * value a reader sees, re-encode, and read the JSON form back. Shared by the script that writes
 * the fixtures once and the test that decodes them forever.
 */
import { GCounter } from '../g-counter.ts';
import { ORMap } from '../or-map.ts';
import { ORSet } from '../or-set.ts';
import { PNCounter, counterJson } from '../pn-counter.ts';
import { DvvSet } from '@meridian/causality';
import { decodeRegisterSet, decodeRegisterVersion, encodeRegisterSet, encodeRegisterVersion, viewRegister, type RegisterSet, type RegisterVersion } from '../register-state.ts';

/** A register set's JSON form: the DvvSet's, each version as the JSON text it is stored as ({h, v | d, t}). */
export function registerSetToJSON(set: RegisterSet): unknown {
  return set.toJSON((v: RegisterVersion) => JSON.parse(new TextDecoder().decode(encodeRegisterVersion(v))) as unknown);
}

export function registerSetFromJSON(json: unknown): RegisterSet {
  return DvvSet.fromJSON(json, (j) => decodeRegisterVersion(new TextEncoder().encode(JSON.stringify(j))));
}

/** A register set with the members a fixture codec needs. */
export function encodableRegister(set: RegisterSet): { set: RegisterSet; encode(): Uint8Array; toJSON(): unknown } {
  return { set, encode: () => encodeRegisterSet(set), toJSON: () => registerSetToJSON(set) };
}

export interface FixtureCodec {
  decode(bytes: Uint8Array): FixtureState;
  fromJSON(json: unknown): FixtureState;
}

export interface FixtureState {
  encode(): Uint8Array;
  toJSON(): unknown;
  /** What a reader sees, as JSON. */
  view(): unknown;
}

function codec<S extends { encode(): Uint8Array; toJSON(): unknown }>(decode: (b: Uint8Array) => S, fromJSON: (j: unknown) => S, view: (s: S) => unknown): FixtureCodec {
  const wrap = (state: S): FixtureState => ({ encode: () => state.encode(), toJSON: () => state.toJSON(), view: () => view(state) });
  return { decode: (bytes) => wrap(decode(bytes)), fromJSON: (json) => wrap(fromJSON(json)) };
}

export const FIXTURE_CODECS: Readonly<Record<string, FixtureCodec>> = {
  'g-counter': codec((b) => GCounter.decode(b), (j) => GCounter.fromJSON(j), (s) => counterJson(s.value())),
  'pn-counter': codec((b) => PNCounter.decode(b), (j) => PNCounter.fromJSON(j), (s) => counterJson(s.value())),
  register: codec(
    (b) => encodableRegister(decodeRegisterSet(b)),
    (j) => encodableRegister(registerSetFromJSON(j)),
    (s) => ({ lww: viewRegister(s.set, 'lww'), mv: viewRegister(s.set, 'mv') }),
  ),
  'or-set': codec((b) => ORSet.decode(b), (j) => ORSet.fromJSON(j), (s) => s.values()),
  'or-map': codec((b) => ORMap.decode(b), (j) => ORMap.fromJSON(j), (s) => ({ value: s.value(), clashes: s.clashes() })),
};

export interface FixtureFile {
  readonly type: string;
  readonly format: number;
  readonly note: string;
  readonly cases: readonly FixtureCase[];
}

export interface FixtureCase {
  readonly name: string;
  readonly hex: string;
  readonly json: unknown;
  readonly view: unknown;
}
