// /audit: the append-only log, for admins.

import { Type } from 'typebox';
import { actorOf, errorResponses, type HttpPlugin } from '../../http/index.ts';
import { Page, Ts } from '../../lib/schemas.ts';
import type { Registry } from '../registry.ts';
import { AuditEntry } from '../schemas/index.ts';
import { ADMIN } from './roles.ts';

const AuditQuery = Type.Object({
  resourceType: Type.Optional(Type.String()),
  resourceId: Type.Optional(Type.String()),
  actor: Type.Optional(Type.String()),
  action: Type.Optional(Type.String()),
  since: Type.Optional(Ts('from')),
  ...Page,
});

export const auditRoutes =
  (registry: Registry): HttpPlugin =>
  async (app) => {
    app.get(
      '/audit',
      {
        config: { roles: ADMIN },
        schema: {
          operationId: 'listAudit',
          tags: ['audit'],
          summary: 'The audit log (append-only): who did or read what, when',
          querystring: AuditQuery,
          response: { 200: Type.Array(AuditEntry), ...errorResponses(400) },
        },
      },
      async (req) => registry.listAudit(actorOf(req), req.query),
    );
  };
