// One error handler for every route: the caller always gets `{statusCode, code, error, message}`.
// What the caller did wrong (ApiError, a request that fails its schema, a body fastify cannot
// parse) is said plainly; anything else is our fault and answered with a generic 500 and the
// request id, so that no upstream text (a SQL error, an InfluxDB message) reaches the caller.
// Every refusal (a 4xx) is counted (`testbed_http_refusals_total{status}`) and logged as `refused` —
// who, which token id, which route, why; never the token's secret — 401 and 403 at warn, the others
// at info, at most REFUSAL_LOG_PER_MINUTE lines a minute per app, so a guessing or fuzzing loop
// cannot flood the log.

import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { STATUS_CODES } from 'node:http';
import { Type } from 'typebox';
import { ApiError, codeForStatus } from '../lib/errors.ts';
import { counter } from '../lib/metrics.ts';

export const ErrorBody = Type.Object(
  {
    statusCode: Type.Integer({ description: 'The HTTP status, repeated' }),
    code: Type.String({ description: 'Stable, machine-readable: bad_request, invalid_request, unauthorized, forbidden, not_found…' }),
    error: Type.String({ description: 'The status text' }),
    message: Type.String({ description: 'What went wrong, for a person' }),
  },
  { title: 'Error' },
);

/** What each error status means on this API, as its OpenAPI response description. */
const MEANING: Record<number, string> = {
  400: 'The request is not valid: the message names the field and why',
  401: 'No bearer token, or one that is not valid (unknown, revoked, expired, or its user disabled)',
  403: 'The token’s role may not do this, or the object is outside what it may see',
  404: 'No such object',
  409: 'The change conflicts with the object’s current state',
  503: 'A part this route needs is not running in this process',
};

/** The error responses an operation documents, by status; each is the shared Error body. */
export function errorResponses(...statuses: number[]): Record<number, typeof ErrorBody> {
  return Object.fromEntries(statuses.map((s) => [s, { ...ErrorBody, description: MEANING[s] ?? STATUS_CODES[s] ?? 'Error' }]));
}

function body(status: number, code: string, message: string) {
  return { statusCode: status, code, error: STATUS_CODES[status] ?? 'Error', message };
}

const refusals = counter<'status'>({
  name: 'testbed_http_refusals_total',
  help: 'HTTP requests refused, by status: 400 invalid, 401 no valid bearer token, 403 role or scope, 404, 409 conflict…',
  labelNames: ['status'],
  known: { status: ['400', '401', '403', '404', '409', '413', '415'] },
});

/** At most this many `refused` lines a minute per app; the counter sees every refusal. */
export const REFUSAL_LOG_PER_MINUTE = 20;

/** The token id of a bearer that looks like one of ours (`tb1.<id>.<secret>`): the id only, never the secret. */
function tokenIdOf(authorization: string | undefined): string | undefined {
  return /^Bearer\s+tb1\.(tok-[0-9a-z]{10})\./i.exec(authorization ?? '')?.[1];
}

interface LogWindow {
  start: number;
  logged: number;
  suppressed: number;
}

/**
 * Counts and logs (rate-limited) refusals: one per app, so one app's flood does not silence another's
 * log; and three budgets, so neither a flood of bad input (400, 404) nor of requests without a token
 * can hide a token of ours being guessed (a 401 that names a token id) or a role overstepping (403).
 */
export class RefusalLog {
  readonly #windows: Record<'guess' | 'access' | 'input', LogWindow> = {
    guess: { start: 0, logged: 0, suppressed: 0 },
    access: { start: 0, logged: 0, suppressed: 0 },
    input: { start: 0, logged: 0, suppressed: 0 },
  };

  record(req: FastifyRequest, status: number, code: string, reason: string, now = Date.now()): void {
    refusals.inc({ status: String(status) });
    const access = status === 401 || status === 403;
    const guessed = status === 401 && tokenIdOf(req.headers.authorization) !== undefined;
    const w = this.#windows[guessed ? 'guess' : access ? 'access' : 'input'];
    let suppressedBefore = 0;
    if (now - w.start >= 60_000) {
      suppressedBefore = w.suppressed;
      w.start = now;
      w.logged = 0;
      w.suppressed = 0;
    }
    if (w.logged >= REFUSAL_LOG_PER_MINUTE) {
      if (w.suppressed++ === 0)
        req.log.warn(
          {
            limit: REFUSAL_LOG_PER_MINUTE,
            detail: 'further refusals this minute are counted in testbed_http_refusals_total, not logged',
          },
          'refusals suppressed',
        );
      return;
    }
    w.logged++;
    const actor = req.actor;
    const tokenId = actor?.tokenId ?? tokenIdOf(req.headers.authorization);
    req.log[access ? 'warn' : 'info'](
      {
        status,
        code,
        method: req.method,
        route: req.routeOptions.url ?? null,
        ...(actor ? { actor: actor.id, role: actor.role } : {}),
        ...(tokenId ? { tokenId } : {}),
        reason,
        ip: req.ip,
        ...(suppressedBefore ? { suppressedBefore } : {}),
      },
      'refused',
    );
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Where this app's 401s and 403s are counted and logged (installErrorHandling). */
    refusalLog: RefusalLog;
  }
}

function handleError(err: FastifyError | ApiError, req: FastifyRequest, reply: FastifyReply) {
  if (err instanceof ApiError) {
    if (err.status >= 500) req.log.warn({ err: err.message, cause: String(err.cause ?? ''), url: req.url }, 'api error');
    if (err.status >= 400 && err.status < 500) req.server.refusalLog.record(req, err.status, err.code, err.message);
    return reply.code(err.status).send(body(err.status, err.code, err.message));
  }
  const status = err.statusCode ?? 500;
  if (err.validation) {
    req.server.refusalLog.record(req, 400, 'invalid_request', err.message);
    return reply.code(400).send(body(400, 'invalid_request', err.message));
  }
  if (status >= 400 && status < 500) {
    req.server.refusalLog.record(req, status, codeForStatus(status), err.message);
    return reply.code(status).send(body(status, codeForStatus(status), err.message));
  }
  req.log.error({ err, url: req.url, reqId: req.id }, 'request failed');
  return reply.code(500).send(body(500, 'internal_error', `internal error (request ${req.id}); the server log has the details`));
}

/** Installs the handler and a JSON 404 on the root app; encapsulated plugins inherit both. */
export function installErrorHandling(app: FastifyInstance): void {
  app.decorate('refusalLog', new RefusalLog());
  app.setErrorHandler(handleError);
  app.setNotFoundHandler((req, reply) => {
    const message = `no route ${req.method} ${req.url.split('?')[0]}`;
    req.server.refusalLog.record(req, 404, 'not_found', message);
    return reply.code(404).send(body(404, 'not_found', message));
  });
}
