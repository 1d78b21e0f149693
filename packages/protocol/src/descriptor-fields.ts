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
