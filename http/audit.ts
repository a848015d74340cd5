// The audit of routes that live outside the registry (issue 11, class 8), once for the whole app.
// The registry audits its own reads and writes inside their transactions; monitoring's reads of
// participant-level data, its settings and the dead-letter reads are recorded here instead: a
// route that names `config.audit` has each successful call appended to the registry's audit log
// (actor, role, token, action, resource, and the route, parameters, query and body — what was
// asked for or changed — with the participants the reply carries). One hook, no copy per route.
//
// The entry is written before the reply leaves (onSend): when the audit log cannot be written,
// the caller gets 503 and not the data, so nothing participant-level is read unrecorded.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { unavailable } from '../lib/errors.ts';
import type { Actor } from '../registry/index.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Each successful call is appended to the audit log (http/audit.ts). */
    audit?: RouteAudit;
  }
  interface FastifyRequest {
    /** What a handler adds to its audit entry (a removed object, previous values). */
    auditNote: Record<string, unknown> | null;
  }
  interface FastifyInstance {
    auditSink: AuditSink | null;
  }
}

export interface RouteAudit {
  /** What was done: read, update, create, delete, acknowledge, resolve, label… */
  action: string;
  /** What it was done to: alert, completeness, device-health, dead-letters, thresholds… */
  resource: string;
  /** The participants whose data the reply (parsed JSON) carries; recorded as their ids. */
  participants?: (reply: unknown) => Iterable<string | null | undefined>;
}

export interface AuditEntry {
  action: string;
  resourceType: string;
  resourceId: string | null;
  details: Record<string, unknown>;
}

/** Where entries go (the registry's recordAudit). */
export type AuditSink = (actor: Actor, entry: AuditEntry) => Promise<void>;

/** Values under these keys never reach the log (a webhook's HMAC key, say). */
const SECRET_KEY = /secret|password|token/i;
const MAX_STRING = 500;

/** The value as recorded: secrets replaced, long strings cut, nesting bounded. */
function recordable(v: unknown, depth = 0): unknown {
  if (typeof v === 'string') return v.length > MAX_STRING ? `${v.slice(0, MAX_STRING)}…` : v;
  if (v === null || typeof v !== 'object') return v;
  if (depth >= 4) return '[nested]';
  if (Array.isArray(v)) return v.slice(0, 100).map((x) => recordable(x, depth + 1));
  return Object.fromEntries(
    Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, SECRET_KEY.test(k) ? '[redacted]' : recordable(x, depth + 1)]),
  );
}

const present = (o: unknown) => o !== null && typeof o === 'object' && Object.keys(o).length > 0;

/**
 * Appends the request's audit entry (its route's `config.audit`); `reply` is the reply's JSON text
 * when there is one. ApiError 503 when no audit log is configured or it cannot be written.
 * Routes that hijack their reply (a stream) call it themselves before they start sending.
 */
export async function recordAudit(req: FastifyRequest, reply?: string | null): Promise<void> {
  const spec = req.routeOptions.config.audit;
  if (!spec) return;
  const sink = req.server.auditSink;
  if (!sink || !req.actor)
    throw unavailable('no audit log in this process: participant-level data and settings are not served without one');
  const params = (req.params ?? {}) as Record<string, unknown>;
  const details: Record<string, unknown> = { route: `${req.method} ${req.routeOptions.url ?? req.url}` };
  if (present(params)) details.params = recordable(params);
  if (present(req.query)) details.query = recordable(req.query);
  if (present(req.body)) details.body = recordable(req.body);
  if (req.auditNote) Object.assign(details, recordable(req.auditNote));
  if (spec.participants && typeof reply === 'string') {
    let parsed: unknown = null;
    try {
      parsed = JSON.parse(reply);
    } catch {
      // Not JSON: nothing participant-level to name.
    }
    details.participants = [...new Set([...spec.participants(parsed)].filter((p): p is string => typeof p === 'string'))].sort();
  }
  const id = Object.values(params)[0];
  const entry = { action: spec.action, resourceType: spec.resource, resourceId: id === undefined ? null : String(id), details };
  try {
    await sink(req.actor, entry);
  } catch (err) {
    throw unavailable('the audit log cannot be written, so this is not served; try again shortly', err);
  }
}

async function audit(app: FastifyInstance, opts: { sink?: AuditSink | undefined }) {
  app.decorate('auditSink', opts.sink ?? null);
  app.decorateRequest('auditNote', null);
  app.addHook('onSend', async (req, reply, payload) => {
    // Only what succeeded is recorded: a refused request read and changed nothing.
    if (!req.routeOptions.config.audit || reply.statusCode >= 400) return payload;
    await recordAudit(req, typeof payload === 'string' ? payload : null);
    return payload;
  });
}

/** Installed once on the root app (not encapsulated), after the auth plugin: every route is covered. */
export const auditPlugin = fp(audit, { name: 'testbed-audit', dependencies: ['testbed-auth'] });
