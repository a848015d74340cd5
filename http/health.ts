// /health and /metrics: public, for load balancers and Prometheus. /health tells the truth about
// what the centre depends on: each dependency (the readings store, the registry database) is
// probed with a cheap request, cached (a public route must not let anyone hammer the databases),
// and `status` is degraded with `reasons` while one of them does not answer.
// Anyone gets status, uptime, version and reasons; the `roles` block (ingest statistics,
// attribution counts, the registry version, pending batches) only a caller whose bearer token is
// an admin's or a coordinator's, read optionally with the auth plugin's own check (bearerActor).

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { ApiError } from '../lib/errors.ts';
import { registry as metrics } from '../lib/metrics.ts';
import type { Role } from '../registry/index.ts';
import { type Authenticate, bearerActor } from './auth.ts';
import { withTimeout } from '../lib/timeout.ts';

export interface HealthReport {
  status: 'ok' | 'degraded';
  uptimeS: number;
  version: string;
  /** Why the status is degraded, one sentence per cause; empty when ok. */
  reasons?: string[] | undefined;
  /** Each role's state; served only to an admin's or a coordinator's token. */
  roles: Record<string, Record<string, unknown>>;
}

/** The roles whose token sees /health's `roles` block. */
export const HEALTH_DETAIL_ROLES: readonly Role[] = ['admin', 'coordinator'];

export interface ProbeResult {
  ok: boolean;
  /** Why not, when not ok: the probe's own error, for the log only (it can name hosts and ports; /health is public). */
  reason?: string | undefined;
  /** When the probe ran, epoch ms. */
  checkedAt: number;
}

/**
 * A dependency's reachability, probed at most once per `ttlMs` and never more than one probe at
 * once, each bounded by `timeoutMs`: however often /health is called, the database sees at most
 * one cheap request per ttl.
 */
export class CachedProbe {
  readonly #probe: (timeoutMs: number) => Promise<void>;
  readonly #ttlMs: number;
  readonly #timeoutMs: number;
  readonly #onChange: ((r: ProbeResult) => void) | undefined;
  #last: ProbeResult | undefined;
  #running: Promise<ProbeResult> | undefined;

  constructor(
    probe: (timeoutMs: number) => Promise<void>,
    opts: { ttlMs?: number; timeoutMs?: number; onChange?: (r: ProbeResult) => void } = {},
  ) {
    this.#probe = probe;
    this.#onChange = opts.onChange;
    this.#ttlMs = opts.ttlMs ?? 2000;
    this.#timeoutMs = opts.timeoutMs ?? 1500;
  }

  async check(now = Date.now()): Promise<ProbeResult> {
    if (this.#last && now - this.#last.checkedAt < this.#ttlMs) return this.#last;
    this.#running ??= withTimeout(this.#probe(this.#timeoutMs), this.#timeoutMs, `no answer within ${this.#timeoutMs} ms`)
      .then(
        () => ({ ok: true, checkedAt: Date.now() }),
        (err: unknown) => ({ ok: false, reason: err instanceof Error ? err.message : String(err), checkedAt: Date.now() }),
      )
      .then((r) => {
        if (r.ok !== (this.#last?.ok ?? true)) this.#onChange?.(r);
        this.#last = r;
        this.#running = undefined;
        return r;
      });
    return this.#running;
  }
}

const Health = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('degraded')]),
  uptimeS: Type.Number(),
  version: Type.String(),
  reasons: Type.Optional(Type.Array(Type.String(), { description: 'Why the status is degraded' })),
  roles: Type.Optional(
    Type.Record(Type.String(), Type.Record(Type.String(), Type.Unknown()), {
      description: 'Each role’s state (ingest statistics, attribution, registry, monitor); only with an admin or coordinator token',
    }),
  ),
});

export const healthRoutes =
  (deps: { health: () => HealthReport | Promise<HealthReport>; authenticate?: Authenticate | undefined }): FastifyPluginAsyncTypebox =>
  async (app) => {
    /** Whether the request carries a valid admin or coordinator token; a token that is not valid is counted and logged as refused. */
    const mayReadRoles = async (req: FastifyRequest): Promise<boolean> => {
      if (!deps.authenticate || req.headers.authorization === undefined) return false;
      try {
        return HEALTH_DETAIL_ROLES.includes((await bearerActor(deps.authenticate, req.headers.authorization)).role);
      } catch (err) {
        // A guess at a token is a refusal even here, where the answer is the public one: /health is no unlogged oracle.
        if (err instanceof ApiError && err.status === 401) req.server.refusalLog.record(req, 401, err.code, err.message);
        else req.log.warn({ err: String(err) }, '/health could not check a bearer token; answering the public view');
        return false;
      }
    };
    app.get(
      '/health',
      {
        schema: {
          operationId: 'getHealth',
          tags: ['centre'],
          summary: 'Liveness, whether the readings store and the registry database answer, and (with a token) the state of each role',
          description:
            'Public: status, uptime, version and why degraded. With `Authorization: Bearer <token>` of an admin or a coordinator, ' +
            'also `roles` (each role’s counters); any other caller, or a token that is not valid, gets the public view (a token ' +
            'that is not valid is counted in testbed_http_refusals_total{status="401"} and logged).',
          security: [{}, { bearer: [] }],
          response: {
            200: { ...Health, description: 'Up; `status` says whether every role is healthy; `roles` only for admin and coordinator' },
          },
        },
      },
      async (req) => {
        const report = await deps.health();
        if (await mayReadRoles(req)) return report;
        const { status, uptimeS, version, reasons } = report;
        return { status, uptimeS, version, ...(reasons !== undefined ? { reasons } : {}) };
      },
    );

    app.get(
      '/metrics',
      {
        schema: {
          operationId: 'getMetrics',
          tags: ['centre'],
          summary: 'Prometheus metrics (text exposition format)',
          response: { 200: { description: 'Metrics in the Prometheus text format', content: { 'text/plain': { schema: Type.String() } } } },
        },
      },
      async (_req, reply) => {
        reply.header('content-type', metrics.contentType);
        return metrics.metrics();
      },
    );
  };
