// The SQL layer and the schema's own guards, on both databases: migrations run once and are
// recorded; the audit log refuses UPDATE and DELETE at the database; overlapping assignments are
// refused by the database even when the registry is bypassed; a failed transaction leaves nothing.

import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { openDatabase, migrate, MIGRATIONS, DbConstraintError, type Database } from '../../registry/index.ts';
import { toPgPlaceholders } from '../../registry/db.ts';
import { DATABASES, freshDatabase, T0, DAY, type FreshDb } from '../support/registry.ts';

it('rewrites ? placeholders for PostgreSQL, leaving quoted text alone', () => {
  expect(toPgPlaceholders('SELECT * FROM t WHERE a = ? AND b = \'?\' AND "c?" = ? ')).toBe(
    'SELECT * FROM t WHERE a = $1 AND b = \'?\' AND "c?" = $2 ',
  );
});

describe.each(DATABASES)('SQL layer on %s', (kind) => {
  let fresh: FreshDb;
  let db: Database;
  beforeAll(async () => {
    fresh = await freshDatabase(kind);
    db = await openDatabase({ databaseUrl: fresh.databaseUrl, dataDir: fresh.dataDir });
  });
  afterAll(async () => {
    await db?.close();
    await fresh?.drop();
  });

  it('applies the numbered migrations once and records them', async () => {
    expect(db.dialect).toBe(kind);
    expect(await migrate(db)).toEqual(MIGRATIONS.map((m) => m.version));
    expect(await migrate(db)).toEqual([]);
    const rows = await db.all<{ version: number; name: string; applied_at: number }>('SELECT * FROM schema_migrations ORDER BY version');
    expect(rows.map((r) => [Number(r.version), r.name])).toEqual(MIGRATIONS.map((m) => [m.version, m.name]));
    expect(typeof rows[0]!.applied_at).toBe('number');
    // A second process starting at the same time waits and applies nothing.
    const other = await openDatabase({ databaseUrl: fresh.databaseUrl, dataDir: fresh.dataDir });
    try {
      expect(await migrate(other)).toEqual([]);
    } finally {
      await other.close();
    }
  });

  it('the audit log is append-only at the database', async () => {
    await db.run("INSERT INTO audit_log (at, actor, role, action, resource_type) VALUES (?, 'test', 'admin', 'create', 'thing')", [
      Date.now(),
    ]);
    await expect(db.run("UPDATE audit_log SET actor = 'someone else'")).rejects.toThrow(/append-only/);
    await expect(db.run('DELETE FROM audit_log')).rejects.toThrow(/append-only/);
    if (kind === 'postgres') await expect(db.exec('TRUNCATE audit_log')).rejects.toThrow(/append-only/);
    expect((await db.get<{ n: number }>('SELECT count(*) AS n FROM audit_log'))!.n).toBe(1);
    expect(await db.get('SELECT actor FROM audit_log')).toMatchObject({ actor: 'test' });
  });

  it('refuses overlapping assignments of one device even without the registry', async () => {
    const now = Date.now();
    await db.exec(`INSERT INTO organisations (id, name, type, created_at, updated_at) VALUES ('o', 'O', 'company', 1, 1);
      INSERT INTO sites (id, name, created_at, updated_at) VALUES ('s', 'S', 1, 1);
      INSERT INTO homes (id, site_id, created_at, updated_at) VALUES ('h1', 's', 1, 1), ('h2', 's', 1, 1);
      INSERT INTO devices (id, kind, vendor, model, org_id, created_at, updated_at) VALUES ('d', 'door', 'v', 'm', 'o', 1, 1);`);
    const add = (id: string, home: string, from: number, to: number | null) =>
      db.run('INSERT INTO assignments (id, device_id, home_id, from_ts, to_ts, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)', [
        id,
        'd',
        home,
        from,
        to,
        now,
        now,
      ]);
    await add('a1', 'h1', T0, T0 + 10 * DAY);
    await add('a2', 'h2', T0 + 10 * DAY, null); // touching is not overlapping
    const err = await add('a3', 'h1', T0 + 5 * DAY, T0 + 6 * DAY).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DbConstraintError);
    expect(['refused', 'exclusion']).toContain((err as DbConstraintError).kind);
    await expect(add('a4', 'h1', T0 + 20 * DAY, null)).rejects.toBeInstanceOf(DbConstraintError);
    await expect(db.run("UPDATE assignments SET to_ts = NULL WHERE id = 'a1'")).rejects.toBeInstanceOf(DbConstraintError);
    await expect(add('a5', 'h1', T0 - 5 * DAY, T0 - 6 * DAY)).rejects.toMatchObject({ kind: 'check' });
    await expect(db.run("INSERT INTO homes (id, site_id, created_at, updated_at) VALUES ('h3', 'nowhere', 1, 1)")).rejects.toMatchObject({
      kind: 'foreign_key',
    });
    expect((await db.all('SELECT id FROM assignments ORDER BY id')).map((r) => r.id)).toEqual(['a1', 'a2']);
  });

  it('a failed transaction leaves nothing behind; concurrent transactions do not interleave', async () => {
    await expect(
      db.tx(async (q) => {
        await q.run("INSERT INTO homes (id, site_id, created_at, updated_at) VALUES ('tx-home', 's', 1, 1)");
        throw new Error('changed my mind');
      }),
    ).rejects.toThrow('changed my mind');
    expect(await db.get("SELECT id FROM homes WHERE id = 'tx-home'")).toBeUndefined();
    // Twenty read-modify-write transactions at once: each sees the previous one's write.
    await db.exec('CREATE TABLE counter (n BIGINT NOT NULL); INSERT INTO counter VALUES (0)');
    await Promise.all(
      Array.from({ length: 20 }, () =>
        db.tx(async (q) => {
          if (q.dialect === 'postgres') await q.run('LOCK TABLE counter IN EXCLUSIVE MODE');
          const { n } = (await q.get<{ n: number }>('SELECT n FROM counter'))!;
          await q.run('UPDATE counter SET n = ?', [Number(n) + 1]);
        }),
      ),
    );
    expect(Number((await db.get<{ n: number }>('SELECT n FROM counter'))!.n)).toBe(20);
  });
});
