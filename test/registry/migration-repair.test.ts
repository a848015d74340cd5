// Migration 4 ("a withdrawal is final") repairs what an earlier race could leave behind: a
// participant withdrawn but still marked consented. Seeded at version 3 with such a row, then
// migrated: the row is withdrawn, the repair is in the audit log, and the database refuses the
// bad state from then on.

import { afterAll, describe, expect, it } from 'vitest';
import { type Database, MIGRATIONS, migrate, openDatabase } from '../../registry/index.ts';
import { type DbKind, type FreshDb, freshDatabase } from '../support/registry.ts';

describe.each(['sqlite', 'postgres'] as DbKind[])('migration 4 repairs withdrawn-but-consented rows (%s)', (kind) => {
  let fresh: FreshDb;
  let db: Database;
  afterAll(async () => {
    await db?.close();
    await fresh?.drop();
  });

  it('sets them withdrawn, audits each repair, and leaves other rows alone', async () => {
    fresh = await freshDatabase(kind);
    db = await openDatabase({ databaseUrl: fresh.databaseUrl || undefined, dataDir: fresh.dataDir });
    await migrate(
      db,
      MIGRATIONS.filter((m) => m.version <= 3),
    );
    await db.tx(async (q) => {
      await q.run("INSERT INTO organisations (id, name, type, created_at, updated_at) VALUES ('m', 'M', 'municipality', 0, 0)");
      await q.run("INSERT INTO sites (id, org_id, name, created_at, updated_at) VALUES ('s', 'm', 'S', 0, 0)");
      await q.run(
        'INSERT INTO trials (id, org_id, name, phase, protocol_version, start_at, created_at, updated_at) ' +
          "VALUES ('t', 'm', 'T', 'pilot', '1', 0, 0, 0)",
      );
      await q.run("INSERT INTO homes (id, site_id, created_at, updated_at) VALUES ('h', 's', 0, 0)");
      const p = (id: string, withdrawnAt: number | null, status: string) =>
        q.run(
          'INSERT INTO participants (id, trial_id, home_id, enrolled_at, withdrawn_at, consent_status, legal_basis, ' +
            'created_at, updated_at) ' +
            "VALUES (?, 't', 'h', 0, ?, ?, 'consent', 0, 0)",
          [id, withdrawnAt, status],
        );
      await p('P-RACE01', 1000, 'consented');
      await p('P-RACE02', 2000, 'pending');
      await p('P-FINE01', null, 'consented');
      await p('P-FINE02', 3000, 'withdrawn');
    });
    expect(await migrate(db)).toEqual(MIGRATIONS.filter((m) => m.version > 3).map((m) => m.version));
    const rows = await db.all<{ id: string; consent_status: string }>('SELECT id, consent_status FROM participants ORDER BY id');
    expect(Object.fromEntries(rows.map((r) => [r.id, r.consent_status]))).toEqual({
      'P-FINE01': 'consented',
      'P-FINE02': 'withdrawn',
      'P-RACE01': 'withdrawn',
      'P-RACE02': 'withdrawn',
    });
    const audit = await db.all<{ actor: string; resource_id: string }>(
      "SELECT actor, resource_id FROM audit_log WHERE actor = 'migration:4' ORDER BY resource_id",
    );
    expect(audit.map((a) => a.resource_id)).toEqual(['P-RACE01', 'P-RACE02']);
    await expect(db.run("UPDATE participants SET consent_status = 'consented' WHERE id = 'P-RACE01'")).rejects.toThrow(/final/);
  });
});
