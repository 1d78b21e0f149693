/**
 * Whether a region's database is behind its own past (DESIGN §6, incarnations). Pure: no I/O.
 *
 * A region restored from a backup, or failed over to an asynchronous standby, holds less of its
 * own stream than the world has seen: its topic and its peers hold sequences, outbox ids and
 * later epochs that this database never made. Were it to go on under the same actor, its next
 * sequences and dots would be ones peers have already applied — dropped there as duplicates,
 * acknowledged writes lost. At start the region compares what its database can still publish
 * with that evidence; when anything is beyond it, it starts a new incarnation: a new epoch, above
 * every epoch seen, so a new actor whose stream starts at sequence 1.
 *
 * Not behind: the relay published and crashed before it marked the rows (its topic holds
 * sequences up to `lastSequence + unpublished`, outbox ids it allocated): those rows go out again
 * under the same sequences and peers drop the copies.
 */
import type { OwnStream } from '@meridian/store';

/** What one source (the region's topic, a peer's heartbeat) holds of one of this region's actors. */
export interface StreamEvidence {
  /** Where it was seen, for the reason: "topic meridian.eu.updates", "us's heartbeat". */
  readonly source: string;
  readonly epoch: number;
  /** The highest sequence of that actor the source holds (applied, for a peer). */
  readonly sequence: bigint;
  /** The highest outbox id of that actor the source holds, when it knows ids. */
  readonly outboxId?: bigint | undefined;
}

export type IncarnationVerdict = { readonly behind: false } | { readonly behind: true; readonly epoch: number; readonly reasons: readonly string[] };

export function incarnationVerdict(region: string, db: OwnStream, evidence: readonly StreamEvidence[]): IncarnationVerdict {
  const actor = `${region}.${db.epoch}`;
  const reachable = db.lastSequence + db.unpublished;
  const reasons: string[] = [];
  let highestEpoch = db.epoch;
  for (const e of evidence) {
    if (e.epoch > highestEpoch) highestEpoch = e.epoch;
    if (e.epoch > db.epoch) {
      reasons.push(`${e.source} holds a later incarnation, ${region}.${e.epoch} (sequence ${e.sequence}), than this database's ${actor}`);
      continue;
    }
    if (e.epoch < db.epoch) continue;
    if (e.sequence > reachable) reasons.push(`${e.source} holds ${actor} up to sequence ${e.sequence}; this database has published ${db.lastSequence} and holds ${db.unpublished} more`);
    if (e.outboxId !== undefined && e.outboxId > db.maxOutboxId) reasons.push(`${e.source} holds ${actor}'s outbox id ${e.outboxId}; this database never allocated one beyond ${db.maxOutboxId}`);
  }
  return reasons.length === 0 ? { behind: false } : { behind: true, epoch: highestEpoch + 1, reasons };
}

/**
 * How far this database holds an earlier actor of its own region (for sessions, DESIGN §6): up
 * to the highest outbox id allocated when the next recorded incarnation began. A restored
 * database holds the earlier actor only up to the copy: its later positions are the peers' to
 * answer, never this region's. Undefined: not an earlier actor of this region, or no switch
 * after it was recorded.
 */
export function earlierOwnPosition(region: string, epoch: number, incarnations: readonly { readonly epoch: number; readonly outboxId: bigint }[], actor: string): bigint | undefined {
  const dot = actor.lastIndexOf('.');
  const actorEpoch = Number(actor.slice(dot + 1));
  if (actor.slice(0, dot) !== region || !Number.isSafeInteger(actorEpoch) || actorEpoch >= epoch) return undefined;
  let next: { readonly epoch: number; readonly outboxId: bigint } | undefined;
  for (const i of incarnations) if (i.epoch > actorEpoch && (!next || i.epoch < next.epoch)) next = i;
  return next?.outboxId;
}
