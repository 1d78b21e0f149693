/**
 * A region's `GET /v1/replication` answer, decoded at the edge into what routing needs: the
 * applied vector (per origin actor, the highest sequence below which everything is applied) and
 * the region's worst peer lag. Wire form (DESIGN §11):
 *   {"applied": {"<actor>": <seq>, …}, "peers": {"<region>": {"state", "lagSeconds", "lagSequence"}}}
 *
 * Strict where routing depends on it (an applied entry that is not a non-negative integer makes
 * the whole answer unusable: a half-read vector could claim coverage it does not have), lenient
 * elsewhere (unknown fields are ignored, a peer without a numeric `lagSeconds` is left out of
 * the maximum). Sequences may exceed 2^53, so they are read as bigint from integers or digit
 * strings.
 */
import type { SessionVector } from '@meridian/protocol';

export interface PeerLag {
  readonly state: string | undefined;
  readonly lagSeconds: number | undefined;
  readonly lagSequence: number | undefined;
}

export interface ReplicationStatus {
  readonly applied: SessionVector;
  readonly peers: ReadonlyMap<string, PeerLag>;
  /** The largest `lagSeconds` over the peers; undefined when no peer reports one. */
  readonly maxLagSeconds: number | undefined;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const finiteOrUndefined = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

function sequence(v: unknown): bigint | undefined {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  if (typeof v === 'string' && /^\d{1,19}$/.test(v)) return BigInt(v);
  return undefined;
}

/** Decodes the JSON body; throws an Error saying what was wrong. */
export function decodeReplicationStatus(body: unknown): ReplicationStatus {
  if (!isRecord(body) || !isRecord(body['applied'])) throw new Error('expected {"applied": {…}, "peers": {…}}');
  // Session tokens hold outbox ids per actor: a region that publishes `positions` (that space,
  // keyed by actor) is compared on those; `applied` (sequences, keyed by region) otherwise.
  const source = isRecord(body['positions']) ? body['positions'] : body['applied'];
  const applied = new Map<string, bigint>();
  for (const [actor, raw] of Object.entries(source)) {
    const seq = sequence(raw);
    if (seq === undefined) throw new Error(`expected applied.${actor} to be a non-negative integer (got ${JSON.stringify(raw)})`);
    applied.set(actor, seq);
  }
  const peers = new Map<string, PeerLag>();
  let maxLagSeconds: number | undefined;
  const rawPeers = body['peers'];
  if (rawPeers !== undefined && !isRecord(rawPeers)) throw new Error('expected "peers" to be an object');
  for (const [region, raw] of Object.entries(rawPeers ?? {})) {
    if (!isRecord(raw)) continue;
    const lag: PeerLag = {
      state: typeof raw['state'] === 'string' ? raw['state'] : undefined,
      lagSeconds: finiteOrUndefined(raw['lagSeconds']),
      lagSequence: finiteOrUndefined(raw['lagSequence']),
    };
    peers.set(region, lag);
    if (lag.lagSeconds !== undefined && (maxLagSeconds === undefined || lag.lagSeconds > maxLagSeconds)) maxLagSeconds = lag.lagSeconds;
  }
  return { applied, peers, maxLagSeconds };
}
