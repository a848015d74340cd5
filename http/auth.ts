// Authentication, once for the whole app. A route that names the roles allowed to call it
// (`config: { roles }`) needs `Authorization: Bearer <token>`: 401 without a valid one, 403 for
// a role not named — both before the body is validated, so a stranger learns nothing about the
// route's shape. A route without `roles` is public (/health, /metrics, the docs, the console's
// static files). The same `roles` also document the route: security scheme, "Roles:" line and
// the 401/403 responses are added to its OpenAPI entry here, so docs and checks cannot drift.

import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify';
import fp from 'fastify-plugin';
import { ApiError, unavailable } from '../lib/errors.ts';
import type { Actor, Role } from '../registry/index.ts';
import { errorResponses } from './errors.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Roles that may call the route; absent: the route is public. */
    roles?: readonly Role[];
  }
  interface FastifyRequest {
    /** Who the bearer token acts for; set on every route that names `roles`. */
    actor: Actor | null;
  }
}

export type Authenticate = (token: string) => Promise<Actor | null>;

/** Who the request's bearer token acts for; ApiError 401 when there is none or it is not valid. */
export async function bearerActor(authenticate: Authenticate, authorization: string | undefined): Promise<Actor> {
  if (!authorization || !/^Bearer\s+\S+$/i.test(authorization)) {
    throw new ApiError(
      401,
      'missing bearer token: send Authorization: Bearer <token> (create one with `testbed token create` or POST /api/v1/users/{id}/tokens)',
    );
  }
  const actor = await authenticate(authorization.replace(/^Bearer\s+/i, '').trim());
  if (!actor) throw new ApiError(401, 'the token is not valid: unknown, revoked or expired, or its user is disabled');
  return actor;
}

/** ApiError 403 unless the actor's role is one of `roles` (undefined: any role). */
export function requireRole(actor: Actor, roles: readonly Role[] | undefined, what: string): void {
  if (roles && !roles.includes(actor.role)) throw new ApiError(403, `role '${actor.role}' may not ${what} (allowed: ${roles.join(', ')})`);
}

/** The caller of an authenticated route. */
export function actorOf(req: FastifyRequest): Actor {
  if (!req.actor) throw new ApiError(401, 'this route needs a bearer token');
  return req.actor;
}

/** A public route is documented as such (`security: []`); one with roles, with the bearer scheme and 401/403. */
function documentRoles(route: RouteOptions): void {
  const roles = route.config?.roles;
  const schema = (route.schema ?? {}) as Record<string, unknown>;
  if (!roles) {
    // A public route may say it also reads an optional token (/health: `security: [{}, {bearer: []}]`).
    if (!schema.hide) route.schema = { security: [], ...schema };
    return;
  }
  const response = (schema.response ?? {}) as Record<string, unknown>;
  const rolesLine = `Roles: ${roles.join(', ')}.`;
  route.schema = {
    ...schema,
    description: schema.description ? `${rolesLine} ${String(schema.description)}` : rolesLine,
    security: [{ bearer: [] }],
    response: { ...errorResponses(401, 403), ...response },
  };
}

async function auth(app: FastifyInstance, opts: { authenticate?: Authenticate | undefined }) {
  app.decorateRequest('actor', null);
  app.addHook('onRoute', documentRoles);
  app.addHook('onRequest', async (req) => {
    const roles = req.routeOptions.config.roles;
    if (!roles) return;
    if (!opts.authenticate) throw unavailable('no registry in this process: routes that need a token cannot check one');
    const actor = await bearerActor(opts.authenticate, req.headers.authorization);
    // Set before the role check so that a 403 is logged with who was refused (errors.ts); a refused request runs no handler.
    req.actor = actor;
    requireRole(actor, roles, `${req.method} ${req.routeOptions.url ?? req.url}`);
  });
}

/** Installed once on the root app (not encapsulated): every route registered after it is covered. */
export const authPlugin = fp(auth, { name: 'testbed-auth' });
