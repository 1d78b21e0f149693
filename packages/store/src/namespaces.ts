/**
 * Namespaces: a name and the merge policy its keys are stored under. Declared by a write (or a
 * replicated declaration) and never dropped; a replicated declaration that wins over this
 * region's replaces the policy (`replaceNamespacePolicy`).
 */
import { StoreError, StoreErrorCode } from './store-error.ts';
import type { Queryable } from './pg-query.ts';
import type { NamespacePolicy, NamespaceRow } from './rows.ts';

/** A `meridian_namespaces` row as node-postgres returns it. */
export interface NamespaceDbRow {
  name: string;
  policy: NamespacePolicy;
  declared_by: string;
  declared_hlc: bigint;
  created_at: Date;
}

export function toNamespace(r: NamespaceDbRow): NamespaceRow {
  return { name: r.name, policy: r.policy, declaredBy: r.declared_by, declaredHlc: r.declared_hlc, createdAt: r.created_at };
}

const GET_NAMESPACE = { name: 'meridian_get_namespace', text: 'SELECT * FROM meridian_namespaces WHERE name = $1' } as const;
const NAMESPACES_AMONG = {
  name: 'meridian_apply_namespaces',
  text: 'SELECT name, policy, declared_by AS "declaredBy", declared_hlc AS "declaredHlc", created_at AS "createdAt" FROM meridian_namespaces WHERE name = ANY($1::text[])',
} as const;

export async function listNamespaces(db: Queryable): Promise<NamespaceRow[]> {
  return (await db.query<NamespaceDbRow>('SELECT * FROM meridian_namespaces ORDER BY name')).rows.map(toNamespace);
}

export async function getNamespace(db: Queryable, name: string): Promise<NamespaceRow | undefined> {
  const { rows } = await db.query<NamespaceDbRow>({ ...GET_NAMESPACE, values: [name] });
  return rows[0] ? toNamespace(rows[0]) : undefined;
}

/** The stored rows of these namespaces, in one query (unlocked, like `getNamespace`). */
export async function namespacesAmong(db: Queryable, names: readonly string[]): Promise<Map<string, NamespaceRow>> {
  if (names.length === 0) return new Map();
  const { rows } = await db.query<NamespaceRow>({ ...NAMESPACES_AMONG, values: [names] });
  return new Map(rows.map((r) => [r.name, r]));
}

/** Inserts the namespace unless it exists; returns the row that is stored either way, locked. */
export async function declareNamespace(db: Queryable, name: string, policy: NamespacePolicy, declaredBy: string, declaredHlc: bigint): Promise<{ created: boolean; row: NamespaceRow }> {
  const inserted = await db.query<NamespaceDbRow>(
    `INSERT INTO meridian_namespaces (name, policy, declared_by, declared_hlc) VALUES ($1, $2, $3, $4)
     ON CONFLICT (name) DO NOTHING RETURNING *`,
    [name, policy, declaredBy, declaredHlc],
  );
  if (inserted.rows[0]) return { created: true, row: toNamespace(inserted.rows[0]) };
  const { rows } = await db.query<NamespaceDbRow>('SELECT * FROM meridian_namespaces WHERE name = $1 FOR UPDATE', [name]);
  if (!rows[0]) throw new StoreError(StoreErrorCode.integrity, `namespace ${name} vanished while it was being declared`);
  return { created: false, row: toNamespace(rows[0]) };
}

/** Replaces a namespace's policy (the deterministic winner of concurrent declarations). */
export async function replaceNamespacePolicy(db: Queryable, name: string, policy: string, declaredBy: string, declaredHlc: bigint): Promise<void> {
  await db.query('UPDATE meridian_namespaces SET policy = $2, declared_by = $3, declared_hlc = $4 WHERE name = $1', [name, policy, declaredBy, declaredHlc]);
}
