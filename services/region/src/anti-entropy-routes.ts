/**
 * Anti-entropy's REST endpoints: `GET /v1/repairs` (every key anti-entropy changed here, newest
 * first, paged like conflicts) and `GET /v1/anti-entropy` (the last round with each peer).
 */
import type { FastifyInstance } from 'fastify';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { PgStore } from '@meridian/store';
import { MeridianError } from './errors.ts';
import type { AntiEntropyLoop } from './anti-entropy/anti-entropy-loop.ts';

export function registerAntiEntropyRoutes(app: FastifyInstance, deps: { store: PgStore; region: string; loop: AntiEntropyLoop | undefined }): void {
  const typed = app.withTypeProvider<TypeBoxTypeProvider>();
  typed.get(
    '/v1/repairs',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['replication'],
        summary: 'Keys anti-entropy repaired in this region (state digests before and after, the peer the state came from, the repair span\'s trace id), newest first, paged with `after`',
        querystring: Type.Object({ ns: Type.Optional(Type.String()), key: Type.Optional(Type.String()), limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,4}$' })), after: Type.Optional(Type.String({ pattern: '^[0-9]{1,19}$' })) }),
      },
    },
    async (request) => {
      const limit = Math.min(Number(request.query.limit ?? 50), 500);
      if (limit < 1) throw new MeridianError('MERIDIAN_VALIDATION', 'expected limit from 1 to 500');
      const rows = await deps.store.tree.repairs({ namespace: request.query.ns, key: request.query.key, limit: limit + 1, before: request.query.after === undefined ? undefined : BigInt(request.query.after) });
      const page = rows.slice(0, limit);
      return {
        repairs: page.map((r) => ({ id: r.id.toString(), namespace: r.namespace, key: r.key, region: deps.region, peer: r.peer, before: r.before ?? null, after: r.after, traceId: r.traceId ?? null, repairedAt: r.repairedAt.toISOString() })),
        next: rows.length > limit ? page.at(-1)!.id.toString() : null,
      };
    },
  );
  typed.get('/v1/anti-entropy', { config: { scope: 'read' }, schema: { tags: ['replication'], summary: 'Continuous anti-entropy: the last round with each peer' } }, () =>
    Promise.resolve({ region: deps.region, continuous: deps.loop !== undefined, peers: deps.loop?.status() ?? {} }),
  );
}
