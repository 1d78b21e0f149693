/**
 * A region's stored membership (migration 8, docs/decisions/0014): the peer regions it consumes
 * and compares with, and the ones an operator removed. Seeded from the configuration at start
 * (`seedMembers`: the configured addresses win, a stored removal holds), changed at run time
 * (`addMember`, `removeMember`), read by every replica of the region on each refresh.
 */
import type { Queryable } from './pg-query.ts';
import type { MemberAddress, MemberRow, MemberState } from './rows.ts';

type DbRow = {
  region: string;
  kafka: string;
  url: string | null;
  grpc: string | null;
  state: MemberState;
  reason: string | null;
  changed_at: Date;
};

const toRow = (r: DbRow): MemberRow => ({ region: r.region, kafka: r.kafka, url: r.url ?? undefined, grpc: r.grpc ?? undefined, state: r.state, reason: r.reason ?? undefined, changedAt: r.changed_at });

/**
 * A region's stored state read inside a caller's transaction with its row share-locked (undefined:
 * never stored): a repair's merge admits members only, and a removal waits for the merge's commit.
 */
export async function lockedMemberState(db: Queryable, region: string): Promise<MemberState | undefined> {
  const { rows } = await db.query<{ state: MemberState }>('SELECT state FROM meridian_members WHERE region = $1 FOR SHARE', [region]);
  return rows[0]?.state;
}

export class MembershipReads {
  readonly #db: Queryable;

  /** `db`: the pool, its errors classified (pg-query.ts `classifying`). */
  constructor(db: Queryable) {
    this.#db = db;
  }

  /** Every stored row, members and removed regions, by region id. */
  async members(): Promise<MemberRow[]> {
    return (await this.#db.query<DbRow>('SELECT * FROM meridian_members ORDER BY region')).rows.map(toRow);
  }

  /**
   * The configured peers at start: a new one becomes a member, a member's addresses follow the
   * configuration (a deployment moves them there), a removed one stays removed. Answers the
   * configured regions that stay removed.
   */
  async seedMembers(configured: readonly MemberAddress[]): Promise<string[]> {
    const removed: string[] = [];
    for (const m of configured) {
      const { rows } = await this.#db.query<{ state: MemberState }>(
        `INSERT INTO meridian_members (region, kafka, url, grpc, state, reason) VALUES ($1, $2, $3, $4, 'member', 'configured')
         ON CONFLICT (region) DO UPDATE SET kafka = excluded.kafka, url = COALESCE(excluded.url, meridian_members.url), grpc = COALESCE(excluded.grpc, meridian_members.grpc)
           WHERE meridian_members.state = 'member'
         RETURNING state`,
        [m.region, m.kafka, m.url ?? null, m.grpc ?? null],
      );
      if (rows.length === 0) removed.push(m.region);
    }
    return removed;
  }

  /** Adds (or re-adds) a member, or moves its addresses. */
  async addMember(m: MemberAddress, reason: string): Promise<MemberRow> {
    const { rows } = await this.#db.query<DbRow>(
      `INSERT INTO meridian_members (region, kafka, url, grpc, state, reason) VALUES ($1, $2, $3, $4, 'member', $5)
       ON CONFLICT (region) DO UPDATE SET kafka = excluded.kafka, url = excluded.url, grpc = excluded.grpc, state = 'member', reason = excluded.reason, changed_at = now()
       RETURNING *`,
      [m.region, m.kafka, m.url ?? null, m.grpc ?? null, reason],
    );
    return toRow(rows[0]!);
  }

  /** Marks a stored region removed; undefined when none is stored. */
  async removeMember(region: string, reason: string): Promise<MemberRow | undefined> {
    const { rows } = await this.#db.query<DbRow>("UPDATE meridian_members SET state = 'removed', reason = $2, changed_at = now() WHERE region = $1 RETURNING *", [region, reason]);
    return rows[0] ? toRow(rows[0]) : undefined;
  }
}
