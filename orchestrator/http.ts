// The HTTP face of the centre: health, Prometheus metrics, dead letters, and the OpenAPI
// document. fastify + TypeBox: one schema validates the request, serialises the reply and
// documents the route in /openapi.json, so the three cannot disagree.

import Fastify, { LogController, type FastifyBaseLogger, type FastifyRequest } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Logger } from '../lib/log.ts';
import { registry } from '../lib/metrics.ts';
import type { DeadLetter, DeadLetterQuery } from '../ingest/dead-letters.ts';
import { bearerActor, requireRole, type Actor, type Role } from './registry.ts';

export interface HealthReport {
  status: 'ok' | 'degraded';
  uptimeS: number;
  version: string;
  roles: Record<string, Record<string, unknown>>;
}

/** What the HTTP layer needs of the dead-letter store (ingest/dead-letters.ts implements it). */
export interface DeadLetterView {
  list(q: DeadLetterQuery): DeadLetter[];
  count(): number;
  countByReason(): Record<string, number>;
}

export interface HttpDeps {
  health: () => HealthReport | Promise<HealthReport>;
  deadLetters?: DeadLetterView;
  /**
   * Who a bearer token acts for (the registry's authenticate), for the routes defined here.
   * Dead letters hold raw payloads from every gateway: only admins and coordinators read them.
   */
  authenticate?: (token: string) => Promise<Actor | null>;
  log?: Logger;
  /** Lets later roles add their routes (registry, monitoring) to the same app. */
  plugins?: ((app: HttpApp) => Promise<void>)[];
}

const DEAD_LETTER_ROLES: readonly Role[] = ['admin', 'coordinator'];

/** 401 without a valid bearer token, 403 for a role that may not read dead letters. */
function deadLetterGuard(authenticate: NonNullable<HttpDeps['authenticate']>) {
  return async (req: FastifyRequest) => {
    requireRole(await bearerActor(authenticate, req.headers.authorization), DEAD_LETTER_ROLES, 'read dead letters');
  };
}

const DeadLetter = Type.Object({
  id: Type.Integer(),
  receivedAt: Type.Integer({ description: 'When ingest received it, epoch ms.' }),
  site: Type.Union([Type.String(), Type.Null()]),
  gateway: Type.Union([Type.String(), Type.Null()]),
  batch: Type.Union([Type.Integer(), Type.Null()]),
  index: Type.Union([Type.Integer(), Type.Null()], { description: 'Position in the batch; null when the whole payload was refused.' }),
  class: Type.String({
    description: 'Why, for counting: invalid_json, invalid_batch, invalid_reading, foreign_gateway, oversize, store_rejected…',
  }),
  reason: Type.String({ description: 'Why it was refused, in words.' }),
  raw: Type.String({ description: 'The payload or reading as received: text, or base64 when it was not UTF-8 (see encoding).' }),
  encoding: Type.Union([Type.Literal('utf8'), Type.Literal('base64')]),
});

function createApp(log: Logger | undefined) {
  // Fastify's logger type is narrower than pino's; the instance is the same object.
  // removeAdditional off: a body with a field the schema does not know (a typo) is refused with a
  // 400 naming it, instead of the field being dropped silently.
  return Fastify({
    ...(log ? { loggerInstance: log as unknown as FastifyBaseLogger } : {}),
    logController: new LogController({ disableRequestLogging: true }),
    ajv: { customOptions: { removeAdditional: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();
}

export type HttpApp = ReturnType<typeof createApp>;

export async function buildHttpApp(deps: HttpDeps): Promise<HttpApp> {
  const app = createApp(deps.log);
  await app.register(swagger, {
    openapi: {
      info: {
        title: 'testbed',
        version: '0.1.0',
        description:
          'Living-lab testbed orchestrator: health, metrics, dead letters, and the trial registry (organisations, sites, trials, homes, pseudonymous participants, devices, assignments, gateways, users, audit). Registry routes need `Authorization: Bearer <token>`; create the first token with `testbed token create --role admin`.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'An API token: tb1.<id>.<secret>' } } },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  app.get(
    '/health',
    {
      schema: {
        summary: 'Liveness and the state of each role',
        response: {
          200: Type.Object({
            status: Type.Union([Type.Literal('ok'), Type.Literal('degraded')]),
            uptimeS: Type.Number(),
            version: Type.String(),
            roles: Type.Record(Type.String(), Type.Record(Type.String(), Type.Unknown())),
          }),
        },
      },
    },
    async () => deps.health(),
  );

  app.get(
    '/metrics',
    { schema: { summary: 'Prometheus metrics (text exposition format)', produces: ['text/plain'] } },
    async (_req, reply) => {
      reply.header('content-type', registry.contentType);
      return registry.metrics();
    },
  );

  if (deps.deadLetters) {
    const store = deps.deadLetters;
    const authenticate = deps.authenticate;
    app.get(
      '/api/v1/dead-letters',
      {
        // Without a registry in the process (a library user's bare app) the route is open, as before.
        onRequest: authenticate ? [deadLetterGuard(authenticate)] : [],
        schema: {
          summary: 'Readings and payloads that failed validation or storage, with the reason and what was received',
          description: `Roles: ${DEAD_LETTER_ROLES.join(', ')}.`,
          security: [{ bearer: [] }],
          querystring: Type.Object({
            site: Type.Optional(Type.String()),
            gateway: Type.Optional(Type.String()),
            since: Type.Optional(Type.Integer({ description: 'Only those received at or after this epoch ms.' })),
            limit: Type.Integer({ minimum: 1, maximum: 10000, default: 100 }),
          }),
          response: {
            200: Type.Object({
              total: Type.Integer(),
              byReason: Type.Record(Type.String(), Type.Integer()),
              items: Type.Array(DeadLetter),
            }),
          },
        },
      },
      async (req) => ({ total: store.count(), byReason: store.countByReason(), items: store.list(req.query) }),
    );
  }

  for (const plugin of deps.plugins ?? []) await plugin(app);
  return app;
}

export async function startHttp(
  deps: HttpDeps & { host: string; port: number },
): Promise<{ app: HttpApp; port: number; close(): Promise<void> }> {
  const app = await buildHttpApp(deps);
  try {
    await app.listen({ host: deps.host, port: deps.port });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE')
      throw new Error(`HTTP port ${deps.port} on ${deps.host} is in use: set TESTBED_HTTP_PORT (or --http-port) to a free one`);
    throw err;
  }
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : deps.port;
  return { app, port, close: () => app.close() };
}
