// The HTTP face of the centre: one fastify app that every role adds its routes to as an
// encapsulated plugin. The shell owns what all routes share: authentication (auth.ts), the error
// handler (errors.ts), the OpenAPI document and its browser (/docs),
// /health and /metrics (health.ts). fastify + TypeBox: one schema validates the request,
// serialises the reply and documents the route in /openapi.json, so the three cannot disagree.

import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyPluginAsyncTypebox, TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyBaseLogger, LogController } from 'fastify';
import type { Logger } from '../lib/log.ts';
import { type AuditSink, auditPlugin } from './audit.ts';
import { type Authenticate, authPlugin } from './auth.ts';
import { installErrorHandling } from './errors.ts';
import { refuseNonFiniteNumbers } from './finite.ts';
import { type HealthReport, healthRoutes } from './health.ts';

/** A role's routes: registered on the root app, encapsulated (its hooks and decorators stay its own). */
export type HttpPlugin = FastifyPluginAsyncTypebox;

export interface HttpDeps {
  health: () => HealthReport | Promise<HealthReport>;
  /** Who a bearer token acts for (the registry's authenticate); without it, routes that name roles answer 503. */
  authenticate?: Authenticate | undefined;
  /** Where routes with `config.audit` are recorded (the registry's recordAudit); without it, they answer 503. */
  audit?: AuditSink | undefined;
  log?: Logger;
  /** The roles' routes (registry, monitoring, dead letters, console), in registration order. */
  plugins?: HttpPlugin[];
}

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

const DESCRIPTION =
  'Living-lab testbed: health, metrics, dead letters, the trial registry (organisations, sites, trials, homes, ' +
  'pseudonymous participants, devices, assignments, gateways, users, audit) and monitoring (device and gateway health, ' +
  'completeness, alerts, site comparison). Routes that name roles need `Authorization: Bearer <token>`; create the first ' +
  'token with `testbed token create --role admin`.';

/**
 * The document's tags, in the order /docs shows them. Every operation's tag must be one of these
 * (test/http/openapi.test.ts checks it with redocly's operation-tag-defined rule).
 */
const TAGS = [
  { name: 'centre', description: 'Liveness and Prometheus metrics of this process' },
  { name: 'organisations', description: 'Care organisations and companies that own sites, devices and trials' },
  { name: 'sites', description: 'Places where a trial runs: a care home, a neighbourhood' },
  { name: 'trials', description: 'Trials, the sites they run at, and their periods' },
  { name: 'homes', description: 'Homes at a site where sensors are installed' },
  { name: 'participants', description: 'Pseudonymous participants, their enrolment and consent' },
  { name: 'absences', description: 'When a participant was away (data then not expected, alarms suppressed)' },
  { name: 'devices', description: 'Sensors and what kind each is' },
  { name: 'assignments', description: 'Which device was in which home, for whom, and when' },
  { name: 'gateways', description: 'Edge gateways: MQTT credentials, state, commands' },
  { name: 'users', description: 'People who use the API, their roles and tokens' },
  { name: 'audit', description: 'Who changed or read what in the registry, and when' },
  { name: 'ingest', description: 'What ingest refused, and why' },
  { name: 'monitoring', description: 'Device and gateway health, completeness, loss, site comparison' },
  { name: 'alerts', description: 'Alerts, their lifecycle, thresholds, live events and webhooks (trial evidence, not a clinical alarm)' },
];

export async function buildHttpApp(deps: HttpDeps): Promise<HttpApp> {
  const app = createApp(deps.log);
  installErrorHandling(app);
  app.addHook('preHandler', refuseNonFiniteNumbers);
  await app.register(swagger, {
    openapi: {
      // 3.1: its schemas are JSON Schema, as fastify's (ajv, draft-07) are: `exclusiveMinimum: 0` means
      // what it says, and @fastify/swagger writes ajv's `nullable: true` as a type that includes null.
      openapi: '3.1.0',
      info: {
        title: 'testbed',
        version: '0.1.0',
        description: DESCRIPTION,
        license: { name: 'Apache-2.0', url: 'https://www.apache.org/licenses/LICENSE-2.0' },
      },
      servers: [{ url: '/', description: 'this centre' }],
      tags: TAGS,
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'An API token: tb1.<id>.<secret>' } } },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  await app.register(authPlugin, { authenticate: deps.authenticate });
  await app.register(auditPlugin, { sink: deps.audit });

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  await app.register(healthRoutes({ health: deps.health, authenticate: deps.authenticate }));
  for (const plugin of deps.plugins ?? []) await app.register(plugin);
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
