// Reading the audit log (admins only). Entries are written by context.ts's audit(), inside the
// transaction of what they record; the database refuses updates and deletes (migration 2).

import { type Actor, mustHaveRole } from '../access.ts';
import type { RegistryContext } from '../context.ts';
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

/** Id of the newest audit entry: it moves on every committed write, so it versions the registry. */
export async function registryVersion(ctx: RegistryContext): Promise<number> {
  const r = await ctx.db.get<{ v: number | null }>('SELECT max(id) AS v FROM audit_log');
  return Number(r?.v ?? 0);
}
