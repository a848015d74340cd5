// http/: the fastify shell every role's routes plug into.

export { type HttpApp, type HttpDeps, type HttpPlugin, buildHttpApp, startHttp } from './app.ts';
export { type Authenticate, actorOf } from './auth.ts';
export { ErrorBody, errorResponses } from './errors.ts';
export type { HealthReport } from './health.ts';
