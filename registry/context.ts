// What every aggregate's operations share: the database, the hooks, the write rule (one
// transaction holding the change and its audit entries; a failed write leaves neither), and the
// checks of ids and intervals that requests and trial files both need.

import { ApiError, badRequest } from '../lib/errors.ts';
import type { Actor } from './access.ts';
import { type Database, DbConstraintError, type Queryable } from './db.ts';
import { ID_PATTERN } from './ids.ts';

export interface RegistryHooks {
  /** After every committed write (the attribution cache reloads). */
  changed?: () => Promise<void> | void;
  /** Drops live broker connections of a gateway (when the broker runs in this process): on revoke and on rotation. */
  disconnect?: (username: string) => number;
  /**
   * Ends what a token or a user holds open (the alert stream's SSE connections) after a revoke or
   * a disable committed: a credential taken away must stop data flowing at once, not at reconnect.
   * Returns how many were ended.
   */
  endSessions?: (who: { tokenId?: string | undefined; userId?: string | undefined }) => number;
  /** Sends a command to a gateway and resolves with its reply (rejects with ApiError 504 on timeout). */
  command?: (site: string, gateway: string, name: string, payload: Record<string, unknown>) => Promise<unknown>;
}

/** What the aggregates' functions need of the Registry (which passes itself). */
export interface RegistryContext {
  readonly db: Database;
  hooks: RegistryHooks;
}

const CONSTRAINT_WORDS: Record<string, string> = {
  unique: 'an object with this key already exists',
  exclusion: 'it overlaps an existing one',
  foreign_key: 'it refers to an object that does not exist, or one that is still referred to',
  check: 'a value is outside what is allowed',
  not_null: 'a required value is missing',
};

/** A write: one transaction with its audit entries, then the change hook. */
export async function write<T>(ctx: RegistryContext, fn: (q: Queryable) => Promise<T>): Promise<T> {
  let result: T;
  try {
    result = await ctx.db.tx(fn);
  } catch (err) {
    // The registry checks first to answer clearly; the database's own constraints are the backstop.
    // Its text stays in the log (the cause): a database's own message names tables, constraints
    // and values. A trigger's RAISE text ('refused') is ours, written in the migrations.
    if (err instanceof DbConstraintError) {
      const status = err.kind === 'unique' || err.kind === 'exclusion' || err.kind === 'refused' ? 409 : 400;
      const why = err.kind === 'refused' ? err.message.split('\n')[0] : CONSTRAINT_WORDS[err.kind];
      throw new ApiError(status, `refused by the database (${err.kind}): ${why}`, undefined, err);
    }
    throw err;
  }
  await ctx.hooks.changed?.();
  return result;
}

/** Appends the audit entry of a change and moves the registry version; call it inside the change's transaction. */
export async function audit(
  q: Queryable,
  a: Actor,
  action: string,
  type: string,
  id: string | null,
  details: Record<string, unknown> = {},
): Promise<void> {
  await auditAccess(q, a, action, type, id, details);
  await q.run('UPDATE registry_version SET version = version + 1 WHERE id = 1');
}

/**
 * Appends the audit entry of an access that changes nothing in the registry (a read of participant
 * data, another role's action): the registry's version stays, so no reader reloads for it.
 */
export async function auditAccess(
  q: Queryable,
  a: Actor,
  action: string,
  type: string,
  id: string | null,
  details: Record<string, unknown> = {},
): Promise<void> {
  await q.run(
    'INSERT INTO audit_log (at, actor, role, token_id, action, resource_type, resource_id, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    [Date.now(), a.id, a.role, a.tokenId ?? null, action, type, id, JSON.stringify(details)],
  );
}

/** The registry's version: it moves with every committed change, in commit order (migration 5). */
export async function registryVersionOf(q: Queryable): Promise<number> {
  const r = await q.get<{ v: number | null }>('SELECT version AS v FROM registry_version WHERE id = 1');
  return Number(r?.v ?? 0);
}

/** The id, when it is a slug; ApiError 400 saying what one looks like otherwise. */
export function checkedSlug(what: string, id: unknown): string {
  if (typeof id !== 'string' || !ID_PATTERN.test(id))
    throw badRequest(
      `${what} id '${String(id)}' is not valid: lowercase letters, digits and dashes, 1–63 characters, starting with a letter or digit`,
    );
  return id;
}

export function checkInterval(what: string, from: number, to: number | null | undefined): void {
  if (to !== null && to !== undefined && to <= from)
    throw badRequest(`${what}: the end (${new Date(to).toISOString()}) must be after the start (${new Date(from).toISOString()})`);
}

export const iso = (t: number | null) => (t === null ? 'open-ended' : new Date(t).toISOString());
