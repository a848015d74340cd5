// /health and /metrics: public, for load balancers and Prometheus. /health tells the truth about
// what the centre depends on: each dependency (the readings store, the registry database) is
// probed with a cheap request, cached (a public route must not let anyone hammer the databases),
// and `status` is degraded with `reasons` while one of them does not answer.

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { registry as metrics } from '../lib/metrics.ts';
import { withTimeout } from '../lib/timeout.ts';

export interface HealthReport {
  status: 'ok' | 'degraded';
  uptimeS: number;
  version: string;
  /** Why the status is degraded, one sentence per cause; empty when ok. */
  reasons?: string[] | undefined;
  roles: Record<string, Record<string, unknown>>;
}

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
  roles: Type.Record(Type.String(), Type.Record(Type.String(), Type.Unknown())),
});

export const healthRoutes =
  (deps: { health: () => HealthReport | Promise<HealthReport> }): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/health',
      {
        schema: {
          operationId: 'getHealth',
          tags: ['centre'],
          summary: 'Liveness, the state of each role, and whether the readings store and the registry database answer',
          response: { 200: { ...Health, description: 'Up; `status` says whether every role is healthy' } },
        },
      },
      async () => deps.health(),
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
