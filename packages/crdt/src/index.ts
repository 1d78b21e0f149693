/**
 * @meridian/crdt: the delta-state CRDTs (Almeida, Shoker, Baquero) behind Meridian's `counter`,
 * `set` and `map` namespaces, and the registers behind `lww` and `mv` (DVV sets of versions, with
 * their merge). Every type is immutable;
 * mutators return deltas, which are states of the same type; `join` is commutative, associative
 * and idempotent; encodings are canonical (equal states, equal bytes). Pure: no I/O. Causality
 * (dots, causal contexts, DVVSets, HLCs) comes from @meridian/causality.
 */
export { CrdtError, CrdtErrorCode } from './crdt-error.ts';
export { type JsonValue, MAX_JSON_DEPTH, canonicalJson, nestedDeeperThan } from './canonical-json.ts';
export { GCounter } from './g-counter.ts';
export { PNCounter, counterJson } from './pn-counter.ts';
export {
  type Json,
  type RegisterPolicy,
  type RegisterSet,
  type RegisterVersion,
  type RegisterView,
  decodeRegisterSet,
  decodeRegisterSetExact,
  decodeRegisterSetForWrite,
  decodeRegisterVersion,
  encodeRegisterSet,
  encodeRegisterVersion,
  lwwWinner,
  viewRegister,
  writeRegister,
} from './register-state.ts';
export { type RegisterConflict, type RegisterMerge, conflictId, mergeRegister, withinSkew } from './register-merge.ts';
export { ORSet } from './or-set.ts';
export { ORMap, FieldType, type MapMutations, type MapMutationContext, type FieldClash, type FieldJson } from './or-map.ts';
export { type ElementJson } from './element-store.ts';
export { type RowLayout, type RowsReader, type RowChanges, contextHash, joinIntoRows, layoutHash, mapRows, setRows, updateMapRows, updateSetRows } from './element-rows.ts';
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
export { COLLECTION_SPLIT_ROWS, type CollectionWritePlan, type SplitCollection, collectionHeaderContext, collectionOpRows, deltaRowNames, fieldRowName, splitRows, touchedRows, collectionRowCount, isCollectionHeader, splitsAbove, joinCollection, planCollectionWrite, splitCollection } from './collection-layout.ts';
