// Reading the audit log (admins only). Entries are written by context.ts's audit(), inside the
// transaction of what they record; the database refuses updates and deletes (migration 2). What
// other parts of the centre do for a person (monitoring's reads of participant-level data and its
// settings, dead-letter reads) is appended through appendAudit, by the HTTP shell (http/audit.ts).

import { type Actor, mustHaveRole } from '../access.ts';
import { auditAccess, type RegistryContext, registryVersionOf } from '../context.ts';
import { whereClause } from '../../lib/sql.ts';
import type { ListOptions } from '../rows.ts';
import type { AuditEntry } from '../schemas/index.ts';
import { auditLog } from '../tables.ts';

export interface AuditFilter extends ListOptions {
  resourceType?: string | undefined;
  resourceId?: string | undefined;
  actor?: string | undefined;
  action?: string | undefined;
  since?: number | undefined;
}

export async function listAudit(ctx: RegistryContext, a: Actor, o: AuditFilter): Promise<AuditEntry[]> {
  mustHaveRole(a, ['admin'], 'read the audit log');
  const w = whereClause([
    ['resource_type = ?', o.resourceType],
    ['resource_id = ?', o.resourceId],
    ['actor = ?', o.actor],
    ['action = ?', o.action],
    ['at >= ?', o.since],
  ]);
  // Paged in SQL, unlike the other lists: the log grows without bound.
  const rows = await ctx.db.all(`SELECT * FROM audit_log${w.sql} ORDER BY id LIMIT ? OFFSET ?`, [
    ...w.params,
    o.limit ?? 1000,
    o.offset ?? 0,
  ]);
  return rows.map((r) => auditLog.decode(r));
}

/** An entry recorded for another part of the centre: what was done, to what, and what changed or was read. */
export interface AuditRecord {
  action: string;
  resourceType: string;
  resourceId: string | null;
  details: Record<string, unknown>;
}

/**
 * Appends one entry on its own: nothing in the registry changes with it, so no change hook runs.
 * Any role may be recorded (the caller checked what the actor may do); the actor's id, role and
 * token are taken from the actor, never from the request.
 */
export async function appendAudit(ctx: RegistryContext, a: Actor, e: AuditRecord): Promise<void> {
  await auditAccess(ctx.db, a, e.action, e.resourceType, e.resourceId, e.details);
}

/** The registry's version: it moves with every committed change, in commit order. */
export function registryVersion(ctx: RegistryContext): Promise<number> {
  return registryVersionOf(ctx.db);
}
