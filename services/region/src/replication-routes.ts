/**
 * The replication endpoints of the REST contract (DESIGN §11): `GET /v1/replication`,
 * `GET /v1/conflicts`, `GET /v1/dead-letters`, `GET /v1/digest`. Registered only when the
 * region replicates (digest always: it compares regions).
 */
import type { FastifyInstance } from 'fastify';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { combineDigests, digest } from '@meridian/crdt';
import type { PgStore } from '@meridian/store';
import { MeridianError } from './errors.ts';
import type { Replication } from './replication/replication.ts';
import { RedriveError } from './replication/peer-replicator.ts';

export function registerReplicationRoutes(app: FastifyInstance, deps: { store: PgStore; replication: Replication | undefined; region: string }): void {
  const typed = app.withTypeProvider<TypeBoxTypeProvider>();

  typed.get('/v1/replication', { config: { scope: 'read' }, schema: { tags: ['replication'], summary: 'Applied vector (every region, this one\'s own high-water included) and each peer link\'s state and lag' } }, async () => {
    if (!deps.replication) return { region: deps.region, applied: {}, peers: {}, replication: 'off' };
    await deps.replication.refresh();
    return deps.replication.status();
  });

  for (const action of ['pause', 'resume'] as const) {
    typed.post(
      `/v1/replication/peers/:peer/${action}`,
      { config: { scope: 'admin' }, schema: { tags: ['replication'], summary: action === 'pause' ? 'Stop applying a peer\'s updates (they wait in Kafka) — maintenance, or to stage a partition. Stored: holds across restarts until resumed; answers the link\'s state' : 'Resume a paused peer link (stored); answers the link\'s state', params: Type.Object({ peer: Type.String() }) } },
      async (request) => {
        const link = deps.replication?.replicators.find((r) => r.peer === request.params.peer);
        if (!link) throw new MeridianError('MERIDIAN_NOT_FOUND', `no replication link from ${request.params.peer} in region ${deps.region}`);
        // Stored, then applied: the answer is the link's state, whatever its Kafka consumer is doing.
        await deps.replication!.setLinkPaused(link.peer, action === 'pause');
        await deps.replication!.refresh();
        return deps.replication!.status().peers[request.params.peer];
      },
    );
  }

  typed.get(
    '/v1/conflicts',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['replication'],
        summary: 'Conflict records, newest first, paged with `after` (the `next` of the previous page)',
        querystring: Type.Object({ ns: Type.Optional(Type.String()), key: Type.Optional(Type.String()), limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,4}$' })), after: Type.Optional(Type.String({ pattern: '^[0-9]{1,19}$' })) }),
      },
    },
    async (request) => {
      const limit = Math.min(Number(request.query.limit ?? 50), 500);
      if (limit < 1) throw new MeridianError('MERIDIAN_VALIDATION', 'expected limit from 1 to 500');
      const rows = await deps.store.replication.conflicts({ namespace: request.query.ns, key: request.query.key, limit: limit + 1, before: request.query.after === undefined ? undefined : BigInt(request.query.after) });
      const page = rows.slice(0, limit);
      return {
        conflicts: page.map((c) => ({ id: c.id, namespace: c.namespace, key: c.key, policy: c.policy, kind: c.kind, versions: c.versions, outcome: c.outcome, regions: c.regions, traceIds: c.traceIds, skewFlagged: c.skewFlagged, observedAt: c.observedAt.toISOString(), observedIn: deps.region })),
        next: rows.length > limit ? page.at(-1)!.seq.toString() : null,
      };
    },
  );

  typed.get('/v1/dead-letters', { config: { scope: 'admin' }, schema: { tags: ['replication'], summary: 'Replication input that could not be applied, with the reason (raw bytes in base64)', querystring: Type.Object({ limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,4}$' })) }) } }, async (request) => {
    const rows = await deps.store.replication.deadLetters(Math.min(Number(request.query.limit ?? 100), 1000));
    return {
      deadLetters: rows.map((d) => ({
        id: d.id.toString(),
        peer: d.peer,
        partition: d.partition,
        offset: d.offset.toString(),
        messageKey: d.messageKey ?? null,
        code: d.code,
        reason: d.reason,
        namespace: d.namespace ?? null,
        key: d.key ?? null,
        origin: d.origin ?? null,
        sequence: d.sequence?.toString() ?? null,
        raw: Buffer.from(d.raw).toString('base64'),
        createdAt: d.createdAt.toISOString(),
        redrivenAt: d.redrivenAt?.toISOString() ?? null,
      })),
    };
  });

  for (const mode of ['redrive', 'discard'] as const) {
    typed.post(
      `/v1/dead-letters/:id/${mode}`,
      {
        config: { scope: 'admin' },
        schema: {
          tags: ['replication'],
          summary: mode === 'redrive' ? 'Decode and apply a dead letter again; if it quarantined its key, lift the quarantine and apply the updates held behind it' : 'Give up a dead letter that can never be applied; lift its key\'s quarantine and apply the updates held behind it',
          params: Type.Object({ id: Type.String({ pattern: '^[0-9]{1,19}$' }) }),
        },
      },
      async (request) => {
        if (!deps.replication) throw new MeridianError('MERIDIAN_NOT_FOUND', 'replication is off in this region');
        try {
          return await deps.replication.redrive(BigInt(request.params.id), mode === 'redrive' ? 'retry' : 'discard');
        } catch (error) {
          if (error instanceof RedriveError) throw new MeridianError(error.code, error.message);
          throw error;
        }
      },
    );
  }

  typed.get(
    '/v1/digest',
    { config: { scope: 'read' }, schema: { tags: ['replication'], summary: 'Order-independent hash of a namespace\'s state: two regions hold the same data iff their digests match', querystring: Type.Object({ ns: Type.String({ minLength: 1 }), keys: Type.Optional(Type.String({ enum: ['true', 'false'] })) }) } },
    async (request) => {
      const states = await deps.store.replication.namespaceStates(request.query.ns);
      const perKey = states.map((s) => [s.key, digest(s.state)] as const);
      return { namespace: request.query.ns, keys: perKey.length, digest: combineDigests(perKey), ...(request.query.keys === 'true' ? { perKey: Object.fromEntries(perKey) } : {}) };
    },
  );
}
