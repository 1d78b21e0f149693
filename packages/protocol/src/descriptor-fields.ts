/**
 * Field numbers for the direct reader and writer of updates (update-reader.ts, update-writer.ts),
 * taken from the generated descriptors and checked to be of the type they read or write: loading
 * either fails when the schema changes under it.
 */
import { ScalarType, type DescField, type DescMessage } from '@bufbuild/protobuf';

/** The number of `schema`'s field `name`, checked to be of `type`; `who` names the module that relies on it. */
export function fieldNumber(who: string, schema: DescMessage, name: string, type: ScalarType | 'enum' | 'message'): number {
  const field: DescField | undefined = schema.field[name];
  const ok = field !== undefined && (type === 'enum' || type === 'message' ? field.fieldKind === type : field.fieldKind === 'scalar' && field.scalar === type);
  if (!ok) throw new Error(`${who}: ${schema.typeName}.${name} is not a ${typeof type === 'string' ? type : ScalarType[type]} field any more; update the ${who.split('-')[1]}`);
  return field.number;
}

export const WIRE_VARINT = 0;
export const WIRE_BIT64 = 1;
export const WIRE_LENGTH_DELIMITED = 2;

/** The wire type protobuf gives a field of `type` (of the types the direct reader and writer handle). */
export function wireTypeOf(type: ScalarType | 'enum' | 'message'): number {
  if (type === ScalarType.FIXED64) return WIRE_BIT64;
  return type === ScalarType.STRING || type === ScalarType.BYTES || type === 'message' ? WIRE_LENGTH_DELIMITED : WIRE_VARINT;
}
