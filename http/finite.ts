// Numbers in a request are finite and safe integers' size, whatever a route's schema says. Ajv
// coerces the query string "Infinity" to Infinity and then passes it as an `integer` within any
// maximum (found by test/security/api-fuzz.test.ts: `?limit=Infinity` reached SQLite and answered
// 500), and JSON.parse reads 1e999 as Infinity; numbers beyond 2^53 (an OFFSET of 1e308) are no
// integer a store can bind. Checked once for every route, after validation, as a 400.

import type { FastifyRequest } from 'fastify';
import { ApiError } from '../lib/errors.ts';

/** Deep enough for every body this API takes; deeper input was refused by its schema already. */
const MAX_DEPTH = 8;

function check(where: string, v: unknown, depth: number): void {
  if (typeof v === 'number') {
    if (!Number.isFinite(v) || Math.abs(v) > Number.MAX_SAFE_INTEGER)
      throw new ApiError(400, `${where}: ${String(v)} is not a number this API accepts (finite, at most 2^53 in size)`, 'invalid_request');
    return;
  }
  if (v === null || typeof v !== 'object' || depth >= MAX_DEPTH) return;
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) check(`${where}.${k}`, x, depth + 1);
}

/** preHandler: ApiError 400 naming the first number in the query, the path or the body that is not finite or too large. */
export async function refuseNonFiniteNumbers(req: FastifyRequest): Promise<void> {
  check('querystring', req.query, 0);
  check('params', req.params, 0);
  check('body', req.body, 0);
}
