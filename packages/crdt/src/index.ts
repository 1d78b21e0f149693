/**
 * @meridian/crdt: the delta-state CRDTs (Almeida, Shoker, Baquero) behind Meridian's `counter`,
 * `set` and `map` namespaces, and the registers behind `lww` and `mv`. Every type is immutable;
 * mutators return deltas, which are states of the same type; `join` is commutative, associative
 * and idempotent; encodings are canonical (equal states, equal bytes). Pure: no I/O. Causality
 * (dots, causal contexts, DVVSets, HLCs) comes from @meridian/causality.
 */
export { CrdtError, CrdtErrorCode } from './crdt-error.ts';
export { type JsonValue, MAX_JSON_DEPTH, canonicalJson, nestedDeeperThan } from './canonical-json.ts';
export { GCounter } from './g-counter.ts';
export { PNCounter, counterJson } from './pn-counter.ts';
export { LwwRegister, type Stamp } from './lww-register.ts';
export { MvRegister, type Sibling } from './mv-register.ts';
export { ORSet } from './or-set.ts';
export { ORMap, FieldType, type MapMutations, type MapMutationContext, type FieldClash, type FieldJson } from './or-map.ts';
export { type ElementJson } from './element-store.ts';
export { type CounterOp, type SetOp, type MapOp, MAX_FIELD_NAME_LENGTH, validateCounterOp, validateSetOp, validateMapOp } from './crdt-ops.ts';
export {
  type CrdtKind,
  type CrdtKindName,
  type ApplyContext,
  type AnyCrdtKind,
  counterKind,
  setKind,
  mapKind,
  crdtKinds,
  crdtKind,
} from './crdt-kind.ts';
export { digest, combineDigests, DigestAccumulator } from './state-digest.ts';
