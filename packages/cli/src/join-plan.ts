/**
 * What `meridian join REGION` must do given what the running regions say of REGION (their
 * `GET /v1/members` answers), without I/O: a region that some peer lists as removed comes back
 * only with `--fresh` — its old data may hold values deleted and purged since, which its
 * anti-entropy would bring back (docs/decisions/0014-region-membership.md) — so `join` refuses
 * before starting anything rather than start a region every peer will refuse (409
 * MERIDIAN_REGION_REMOVED). With `--fresh` its kept database and Kafka data are dropped and the
 * peers are asked with `fresh=true`.
 */

/** One running region's answer about its members (only the fields join reads). */
export interface PeerMembers {
  readonly peer: string;
  readonly members: readonly { readonly region: string; readonly state: string }[];
}

export interface JoinPlan {
  /** Drop the region's kept database and Kafka data before starting it. */
  readonly wipe: boolean;
  /** The query string of each `PUT /v1/members/REGION`. */
  readonly query: '' | '?fresh=true';
  /** The peers that list the region as removed. */
  readonly removedBy: readonly string[];
}

export class JoinRefused extends Error {}

export function joinPlan(region: string, fresh: boolean, answers: readonly PeerMembers[]): JoinPlan {
  const removedBy = answers.filter((a) => a.members.some((m) => m.region === region && m.state === 'removed')).map((a) => a.peer);
  if (removedBy.length > 0 && !fresh) {
    throw new JoinRefused(
      `${region} was removed from ${removedBy.join(', ')}: a removed region comes back only wiped, as it may hold values deleted and purged since. \`meridian join ${region} --fresh\` drops its database and Kafka data and copies everything again`,
    );
  }
  return { wipe: fresh, query: fresh ? '?fresh=true' : '', removedBy };
}
