// GET /api/v1/dead-letters: what ingest refused, with the reason and the payload as received.
// Dead letters hold raw payloads from every gateway: only admins and coordinators read them.

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { errorResponses } from '../http/errors.ts';
import { Nullable, Ts } from '../lib/schemas.ts';
import type { DeadLetter, DeadLetterQuery } from './dead-letters.ts';

/** What the route needs of the dead-letter store (ingest/dead-letters.ts implements it). */
export interface DeadLetterView {
  list(q: DeadLetterQuery): DeadLetter[];
  count(): number;
  countByReason(): Record<string, number>;
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
  (store: DeadLetterView): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/api/v1/dead-letters',
      {
        config: { roles: ['admin', 'coordinator'] },
        schema: {
          operationId: 'listDeadLetters',
          tags: ['ingest'],
          summary: 'Readings and payloads that failed validation or storage, with the reason and what was received',
          querystring: Type.Object({
            site: Type.Optional(Type.String({ maxLength: 63 })),
            gateway: Type.Optional(Type.String({ maxLength: 63 })),
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
      async (req) => ({ total: store.count(), byReason: store.countByReason(), items: store.list(req.query) }),
    );
  };
