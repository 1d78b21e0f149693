/**
 * Membership's REST endpoints (docs/decisions/0014-region-membership.md): `GET /v1/members`
 * lists the peer regions this region replicates with (and the removed ones), `PUT
 * /v1/members/:region` adds one (or moves its addresses) and `DELETE /v1/members/:region` removes
 * one — admin scope, applied at once, followed by every replica of the region, no restart.
 */
import type { FastifyInstance } from 'fastify';
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { MeridianError } from './errors.ts';
import type { Membership } from './membership.ts';

const REGION = '^[a-z][a-z0-9-]{0,31}$';
const HOST_PORT = '[A-Za-z0-9.-]+:[0-9]{1,5}';

export function registerMembershipRoutes(app: FastifyInstance, deps: { region: string; membership: Membership | undefined }): void {
  const typed = app.withTypeProvider<TypeBoxTypeProvider>();
  const membership = (): Membership => {
    if (!deps.membership) throw new MeridianError('MERIDIAN_NOT_FOUND', `region ${deps.region} runs without replication: it has no members`);
    return deps.membership;
  };

  typed.get('/v1/members', { config: { scope: 'read' }, schema: { tags: ['membership'], summary: 'The peer regions this region consumes, compares with and redirects to (stored; each with its link\'s state), and the regions removed' } }, () =>
    Promise.resolve({ region: deps.region, members: deps.membership?.members() ?? [] }),
  );

  typed.put(
    '/v1/members/:region',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['membership'],
        summary: 'Add a peer region (or move its addresses): its topic is consumed from its Kafka, its gRPC server joins anti-entropy, its URL becomes a fallback target — at once, no restart. A removed region is added back only with fresh=true, once wiped and joined anew (409 MERIDIAN_REGION_REMOVED otherwise)',
        params: Type.Object({ region: Type.String({ pattern: REGION }) }),
        querystring: Type.Object({ fresh: Type.Optional(Type.String({ enum: ['true', 'false'], description: 'the removed region was wiped and joined anew (MERIDIAN_JOIN=on)' })) }),
        body: Type.Object({
          kafka: Type.String({ pattern: `^${HOST_PORT}(,${HOST_PORT})*$`, description: 'bootstrap servers of the region\'s own Kafka' }),
          url: Type.Optional(Type.String({ pattern: '^https?://', description: 'its public HTTP URL' })),
          grpc: Type.Optional(Type.String({ pattern: `^${HOST_PORT}$`, description: 'its anti-entropy gRPC address' })),
        }, { additionalProperties: false }),
      },
    },
    async (request) => {
      const { kafka, url, grpc } = request.body;
      return membership().add({ region: request.params.region, kafka, url, grpc }, request.query.fresh === 'true');
    },
  );

  typed.delete(
    '/v1/members/:region',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['membership'],
        summary: 'Remove a peer region: its topic is no longer consumed, its session positions no longer demanded. Refused (409 MERIDIAN_LINK_NOT_DRAINED) until the link from it has applied everything it published, unless force=true (what it acknowledged and no peer applied is then lost)',
        params: Type.Object({ region: Type.String({ pattern: REGION }) }),
        querystring: Type.Object({ force: Type.Optional(Type.String({ enum: ['true', 'false'] })) }),
      },
    },
    async (request) => {
      const { member, forced } = await membership().remove(request.params.region, request.query.force === 'true');
      return { ...member, ...(forced ? { warning: `removed with force: ${forced}` } : {}) };
    },
  );
}
