// One error handler for every route: the caller always gets `{statusCode, code, error, message}`.
// What the caller did wrong (ApiError, a request that fails its schema, a body fastify cannot
// parse) is said plainly; anything else is our fault and answered with a generic 500 and the
// request id, so that no upstream text (a SQL error, an InfluxDB message) reaches the caller.

import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { STATUS_CODES } from 'node:http';
import { Type } from 'typebox';
import { ApiError, codeForStatus } from '../lib/errors.ts';

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

function handleError(err: FastifyError | ApiError, req: FastifyRequest, reply: FastifyReply) {
  if (err instanceof ApiError) {
    if (err.status >= 500) req.log.warn({ err: err.message, cause: String(err.cause ?? ''), url: req.url }, 'api error');
    return reply.code(err.status).send(body(err.status, err.code, err.message));
  }
  const status = err.statusCode ?? 500;
  if (err.validation) return reply.code(400).send(body(400, 'invalid_request', err.message));
  if (status >= 400 && status < 500) return reply.code(status).send(body(status, codeForStatus(status), err.message));
  req.log.error({ err, url: req.url, reqId: req.id }, 'request failed');
  return reply.code(500).send(body(500, 'internal_error', `internal error (request ${req.id}); the server log has the details`));
}

/** Installs the handler and a JSON 404 on the root app; encapsulated plugins inherit both. */
export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler(handleError);
  app.setNotFoundHandler((req, reply) => reply.code(404).send(body(404, 'not_found', `no route ${req.method} ${req.url.split('?')[0]}`)));
}
