// /health and /metrics: public, for load balancers and Prometheus.

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { registry as metrics } from '../lib/metrics.ts';

export interface HealthReport {
  status: 'ok' | 'degraded';
  uptimeS: number;
  version: string;
  roles: Record<string, Record<string, unknown>>;
}

const Health = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('degraded')]),
  uptimeS: Type.Number(),
  version: Type.String(),
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
          summary: 'Liveness and the state of each role',
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
