// The web console: static files under /console/, served by the centre's fastify app. No
// build step and no framework: small hand-written ES modules (JSDoc-typed JavaScript) that call
// the same API as everyone else with the user's bearer token, so the API's roles apply as they
// are. The files are read once at start from an allow-list (this folder's public/), never from a
// path taken from the request.

import { readFileSync, readdirSync } from 'node:fs';
import { extname, join } from 'node:path';
import type { HttpPlugin } from '../http/index.ts';

const PUBLIC = new URL('./public/', import.meta.url).pathname;
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};
/** Scripts and styles from here only; the API on the same origin. */
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export const CONSOLE_PATH = '/console/';

export function consolePlugin(): HttpPlugin {
  const files = new Map<string, { body: Buffer; type: string }>();
  for (const name of readdirSync(PUBLIC)) {
    const type = TYPES[extname(name)];
    if (type) files.set(name, { body: readFileSync(join(PUBLIC, name)), type });
  }
  return async (app) => {
    app.get('/console', { schema: { hide: true } }, async (_req, reply) => reply.redirect(CONSOLE_PATH));
    app.get('/console/*', { schema: { hide: true } }, async (req, reply) => {
      const name = (req.params as { '*': string })['*'] || 'index.html';
      const f = files.get(name);
      if (!f) return reply.code(404).type('text/plain').send('not found');
      return reply
        .header('content-type', f.type)
        .header('content-security-policy', CSP)
        .header('x-content-type-options', 'nosniff')
        .header('referrer-policy', 'no-referrer')
        .header('cache-control', 'no-cache')
        .send(f.body);
    });
  };
}
