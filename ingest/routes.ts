// GET /api/v1/dead-letters: what ingest refused, with the reason and the payload as received.
// Raw payloads are participant-level data: every read is audited (config.audit), and each caller
// sees only their scope, applied in the query before the limit (issue 11, class 5) — admins every
// gateway; a coordinator their organisation's sites; a company the gateways it operates (its own
// technical data, to debug its devices; no participant ids are in a dead letter). Researchers none.

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { actorOf } from '../http/auth.ts';
import { errorResponses } from '../http/errors.ts';
import { ApiError } from '../lib/errors.ts';
import { Nullable, Slug, Ts } from '../lib/schemas.ts';
import type { DeadLetter, DeadLetterQuery } from './dead-letters.ts';

/** What the route needs of the dead-letter store (ingest/dead-letters.ts implements it). */
export interface DeadLetterView {
  list(q: DeadLetterQuery): DeadLetter[];
  count(scope?: DeadLetterScope): number;
  countByReason(scope?: DeadLetterScope): Record<string, number>;
}

/** What a caller may read: sites, or `site/gateway` pairs; null means no limit. */
export interface DeadLetterScope {
  sites: readonly string[] | null;
  gateways: readonly string[] | null;
}

export interface DeadLetterRouteOptions {
  /** The caller's scope (the registry's `reach`); an actor is passed as the auth plugin set it. */
  scope: (actor: ReturnType<typeof actorOf>) => Promise<DeadLetterScope>;
}

const DeadLetterT = Type.Object({
  id: Type.Integer(),
  receivedAt: Type.Integer({ description: 'When ingest received it, epoch ms.' }),
  site: Nullable(Type.String()),
  gateway: Nullable(Type.String()),
  batch: Nullable(Type.Integer()),
  index: Nullable(Type.Integer({ description: 'Position in the batch; null when the whole payload was refused.' })),
  class: Type.String({
    description: 'Why, for counting: invalid_json, invalid_batch, invalid_reading, foreign_gateway, oversize, store_rejected…',
  }),
  reason: Type.String({ description: 'Why it was refused, in words.' }),
  raw: Type.String({ description: 'The payload or reading as received: text, or base64 when it was not UTF-8 (see encoding).' }),
  encoding: Type.Union([Type.Literal('utf8'), Type.Literal('base64')]),
});

export const deadLetterRoutes =
  (store: DeadLetterView, opts: DeadLetterRouteOptions): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/api/v1/dead-letters',
      {
        config: { roles: ['admin', 'coordinator', 'company'], audit: { action: 'read', resource: 'dead-letters' } },
        schema: {
          operationId: 'listDeadLetters',
          tags: ['ingest'],
          summary: 'Readings and payloads that failed validation or storage, with the reason and what was received',
          querystring: Type.Object({
            site: Type.Optional(Slug('site')),
            gateway: Type.Optional(Slug('gateway')),
            since: Type.Optional(Ts('only those received at or after')),
            limit: Type.Integer({ minimum: 1, maximum: 10000, default: 100 }),
          }),
          response: {
            200: Type.Object({
              total: Type.Integer(),
              byReason: Type.Record(Type.String(), Type.Integer()),
              items: Type.Array(DeadLetterT),
            }),
            ...errorResponses(400),
          },
        },
      },
      async (req) => {
        const scope = await opts.scope(actorOf(req));
        const q = req.query;
        // Naming what is outside the scope is refused, not answered with an empty page.
        if (q.site && scope.sites && !scope.sites.includes(q.site)) throw new ApiError(403, `site '${q.site}' is outside your scope`);
        return { total: store.count(scope), byReason: store.countByReason(scope), items: store.list({ ...q, ...scope }) };
      },
    );
  };
