// Numbered schema migrations, run at start, each recorded in schema_migrations in the same
// transaction as its DDL (both SQLite and PostgreSQL have transactional DDL), so a migration is
// applied completely or not at all. Never edit a released migration: add the next number.
//
// The SQL is shared; where the dialects differ (an auto-increment key, triggers, PostgreSQL's
// exclusion constraint) a migration gives one text per dialect. `{{serial}}` stands for an
// auto-incrementing integer primary key.
//
// The enum CHECKs take their lists from schemas/enums.ts, where each list is written once. A
// released migration's text must not change: adding a value to an enum therefore needs a new
// migration that replaces the CHECK (test/registry/db.test.ts compares migration 1 with its
// released text).

import type { Database, Dialect } from './db.ts';
import { ABSENCE_REASONS, CONSENT_STATUSES, LEGAL_BASES, ORG_TYPES, PAST_DATA, PHASES, ROLES, sqlIn } from './schemas/enums.ts';

export interface Migration {
  version: number;
  name: string;
  up: string | Record<Dialect, string>;
}

const FOREVER = '9223372036854775807';

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'registry',
    up: `
      CREATE TABLE organisations (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        type TEXT NOT NULL CHECK (type IN (${sqlIn(ORG_TYPES)})),
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
      );
      CREATE TABLE sites (
        id TEXT PRIMARY KEY,
        org_id TEXT REFERENCES organisations (id),
        name TEXT NOT NULL,
        facilities TEXT NOT NULL DEFAULT '[]',
        description TEXT,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
      );
      CREATE TABLE trials (
        id TEXT PRIMARY KEY,
        org_id TEXT NOT NULL REFERENCES organisations (id),
        name TEXT NOT NULL,
        phase TEXT NOT NULL CHECK (phase IN (${sqlIn(PHASES)})),
        protocol_version TEXT NOT NULL,
        start_at BIGINT NOT NULL,
        end_at BIGINT,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        CHECK (end_at IS NULL OR end_at > start_at)
      );
      CREATE TABLE trial_sites (
        trial_id TEXT NOT NULL REFERENCES trials (id),
        site_id TEXT NOT NULL REFERENCES sites (id),
        PRIMARY KEY (trial_id, site_id)
      );
      CREATE TABLE homes (
        id TEXT PRIMARY KEY,
        site_id TEXT NOT NULL REFERENCES sites (id),
        label TEXT,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
      );
      CREATE INDEX homes_site ON homes (site_id);
      CREATE TABLE participants (
        id TEXT PRIMARY KEY,
        trial_id TEXT NOT NULL REFERENCES trials (id),
        home_id TEXT NOT NULL REFERENCES homes (id),
        enrolled_at BIGINT NOT NULL,
        withdrawn_at BIGINT,
        consent_status TEXT NOT NULL CHECK (consent_status IN (${sqlIn(CONSENT_STATUSES)})),
        consent_scope TEXT NOT NULL DEFAULT '[]',
        legal_basis TEXT NOT NULL CHECK (legal_basis IN (${sqlIn(LEGAL_BASES)})),
        past_data TEXT CHECK (past_data IS NULL OR past_data IN (${sqlIn(PAST_DATA)})),
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
      );
      CREATE INDEX participants_home ON participants (home_id);
      CREATE INDEX participants_trial ON participants (trial_id);
      CREATE TABLE absences (
        id TEXT PRIMARY KEY,
        participant_id TEXT NOT NULL REFERENCES participants (id),
        from_ts BIGINT NOT NULL,
        to_ts BIGINT,
        reason TEXT NOT NULL CHECK (reason IN (${sqlIn(ABSENCE_REASONS)})),
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        CHECK (to_ts IS NULL OR to_ts > from_ts)
      );
      CREATE INDEX absences_participant ON absences (participant_id);
      CREATE TABLE devices (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        vendor TEXT NOT NULL,
        model TEXT NOT NULL,
        firmware TEXT,
        zigbee_address TEXT UNIQUE,
        serial TEXT,
        org_id TEXT NOT NULL REFERENCES organisations (id),
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
      );
      CREATE TABLE assignments (
        id TEXT PRIMARY KEY,
        device_id TEXT NOT NULL REFERENCES devices (id),
        home_id TEXT NOT NULL REFERENCES homes (id),
        participant_id TEXT REFERENCES participants (id),
        from_ts BIGINT NOT NULL,
        to_ts BIGINT,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        CHECK (to_ts IS NULL OR to_ts > from_ts)
      );
      CREATE INDEX assignments_device ON assignments (device_id, from_ts);
      CREATE INDEX assignments_home ON assignments (home_id);
      CREATE TABLE gateways (
        id TEXT PRIMARY KEY,
        site_id TEXT NOT NULL REFERENCES sites (id),
        gateway TEXT NOT NULL,
        home_id TEXT REFERENCES homes (id),
        org_id TEXT REFERENCES organisations (id),
        password_hash TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        revoked_at BIGINT,
        last_seen_at BIGINT,
        UNIQUE (site_id, gateway)
      );
      CREATE TABLE users (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        role TEXT NOT NULL CHECK (role IN (${sqlIn(ROLES)})),
        org_id TEXT REFERENCES organisations (id),
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        disabled_at BIGINT,
        CHECK (role IN ('admin', 'researcher') OR org_id IS NOT NULL)
      );
      CREATE TABLE api_tokens (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users (id),
        label TEXT,
        secret_hash TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT,
        revoked_at BIGINT,
        last_used_at BIGINT
      );
      CREATE TABLE audit_log (
        id {{serial}},
        at BIGINT NOT NULL,
        actor TEXT NOT NULL,
        role TEXT NOT NULL,
        token_id TEXT,
        action TEXT NOT NULL,
        resource_type TEXT NOT NULL,
        resource_id TEXT,
        details TEXT NOT NULL DEFAULT '{}'
      );
      CREATE INDEX audit_resource ON audit_log (resource_type, resource_id);
    `,
  },
  {
    version: 2,
    name: 'audit log is append-only',
    up: {
      sqlite: `
        CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: rows cannot be updated'); END;
        CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: rows cannot be deleted'); END;
      `,
      postgres: `
        CREATE FUNCTION audit_log_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP;
        END
        $$;
        CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
          FOR EACH ROW EXECUTE FUNCTION audit_log_refuse();
        CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
          FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse();
      `,
    },
  },
  {
    version: 3,
    name: 'a device is in at most one home at a time',
    up: {
      // The registry checks overlaps itself (for a clear message); the database refuses them too.
      sqlite: `
        CREATE TRIGGER assignments_no_overlap_insert BEFORE INSERT ON assignments
        WHEN EXISTS (SELECT 1 FROM assignments a WHERE a.device_id = NEW.device_id
          AND a.from_ts < COALESCE(NEW.to_ts, ${FOREVER}) AND NEW.from_ts < COALESCE(a.to_ts, ${FOREVER}))
        BEGIN SELECT RAISE(ABORT, 'assignment overlaps another assignment of the same device'); END;
        CREATE TRIGGER assignments_no_overlap_update BEFORE UPDATE ON assignments
        WHEN EXISTS (SELECT 1 FROM assignments a WHERE a.device_id = NEW.device_id AND a.id <> NEW.id
          AND a.from_ts < COALESCE(NEW.to_ts, ${FOREVER}) AND NEW.from_ts < COALESCE(a.to_ts, ${FOREVER}))
        BEGIN SELECT RAISE(ABORT, 'assignment overlaps another assignment of the same device'); END;
      `,
      // An exclusion constraint holds even for two transactions racing each other.
      postgres: `
        CREATE EXTENSION IF NOT EXISTS btree_gist;
        ALTER TABLE assignments ADD CONSTRAINT assignments_no_overlap
          EXCLUDE USING gist (device_id WITH =, int8range(from_ts, to_ts) WITH &&);
      `,
    },
  },
  {
    version: 4,
    name: 'a withdrawal is final',
    up: {
      // The registry serialises consent changes and withdrawals (a row lock, aggregates/
      // participants.ts); this is the backstop for any writer: once withdrawn_at is set it never
      // changes, and a withdrawn participant's status stays 'withdrawn', so nothing can make them
      // visible or consented again. Rows an earlier race left consented after a withdrawal are
      // set to withdrawn first (the withdrawal wins), each with an audit entry saying so.
      sqlite: `
        INSERT INTO audit_log (at, actor, role, action, resource_type, resource_id, details)
          SELECT CAST(strftime('%s', 'now') AS INTEGER) * 1000, 'migration:4', 'admin', 'consent-change', 'participant', id,
            json_object('changed', json_object('consentStatus', json_array(consent_status, 'withdrawn')),
              'reason', 'withdrawn on ' || withdrawn_at || ' but left ' || consent_status || ' by a race')
          FROM participants WHERE withdrawn_at IS NOT NULL AND consent_status <> 'withdrawn' ORDER BY id;
        UPDATE participants SET consent_status = 'withdrawn' WHERE withdrawn_at IS NOT NULL AND consent_status <> 'withdrawn';
        CREATE TRIGGER participants_withdrawal_final BEFORE UPDATE ON participants
        WHEN (OLD.withdrawn_at IS NOT NULL AND NEW.withdrawn_at IS NOT OLD.withdrawn_at)
          OR (NEW.withdrawn_at IS NOT NULL AND NEW.consent_status <> 'withdrawn')
        BEGIN SELECT RAISE(ABORT, 'the participant withdrew: a withdrawal is final (enrol again with a new pseudonym)'); END;
        CREATE TRIGGER participants_withdrawn_status BEFORE INSERT ON participants
        WHEN NEW.withdrawn_at IS NOT NULL AND NEW.consent_status <> 'withdrawn'
        BEGIN SELECT RAISE(ABORT, 'a withdrawn participant has consent status withdrawn'); END;
      `,
      postgres: `
        INSERT INTO audit_log (at, actor, role, action, resource_type, resource_id, details)
          SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint, 'migration:4', 'admin', 'consent-change', 'participant', id,
            json_build_object('changed', json_build_object('consentStatus', json_build_array(consent_status, 'withdrawn')),
              'reason', 'withdrawn on ' || withdrawn_at || ' but left ' || consent_status || ' by a race')::text
          FROM participants WHERE withdrawn_at IS NOT NULL AND consent_status <> 'withdrawn' ORDER BY id;
        UPDATE participants SET consent_status = 'withdrawn' WHERE withdrawn_at IS NOT NULL AND consent_status <> 'withdrawn';
        CREATE FUNCTION participants_withdrawal_final() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP = 'UPDATE' AND OLD.withdrawn_at IS NOT NULL AND NEW.withdrawn_at IS DISTINCT FROM OLD.withdrawn_at
            OR NEW.withdrawn_at IS NOT NULL AND NEW.consent_status <> 'withdrawn' THEN
            RAISE EXCEPTION 'the participant withdrew: a withdrawal is final (enrol again with a new pseudonym)';
          END IF;
          RETURN NEW;
        END
        $$;
        CREATE TRIGGER participants_withdrawal_final BEFORE INSERT OR UPDATE ON participants
          FOR EACH ROW EXECUTE FUNCTION participants_withdrawal_final();
      `,
    },
  },
  {
    version: 5,
    name: 'registry version: a counter every write moves, in commit order',
    // Readers (attribution, monitoring) poll this to know when to reload. It used to be max(id) of
    // the audit log, but reads are audited too (every audited read then forced a reload), and on
    // PostgreSQL ids are handed out at insert, not at commit: a transaction that took id 10 and
    // committed after id 11 was never seen. An UPDATE of one row is serialised by its row lock, so
    // the counter's order is the commits' order.
    up: `
      CREATE TABLE registry_version (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        version BIGINT NOT NULL
      );
      INSERT INTO registry_version (id, version) VALUES (1, 0);
    `,
  },
];

function render(m: Migration, dialect: Dialect): string {
  const sql = typeof m.up === 'string' ? m.up : m.up[dialect];
  return sql.replaceAll(
    '{{serial}}',
    dialect === 'sqlite' ? 'INTEGER PRIMARY KEY AUTOINCREMENT' : 'BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY',
  );
}

/** Applies the migrations not yet recorded; returns the versions applied now. Safe to run from several processes at once. */
export async function migrate(db: Database, migrations: readonly Migration[] = MIGRATIONS): Promise<number[]> {
  await db.exec(
    'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)',
  );
  return db.tx(async (q) => {
    // Serialise concurrent starters: SQLite's BEGIN IMMEDIATE already did; PostgreSQL needs a lock.
    if (q.dialect === 'postgres') await q.run('SELECT pg_advisory_xact_lock(7431001)');
    const done = new Set((await q.all<{ version: number }>('SELECT version FROM schema_migrations')).map((r) => Number(r.version)));
    const applied: number[] = [];
    for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
      if (done.has(m.version)) continue;
      try {
        await q.exec(render(m, q.dialect));
      } catch (err) {
        throw new Error(`migration ${m.version} (${m.name}) failed: ${(err as Error).message}`, { cause: err });
      }
      await q.run('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)', [m.version, m.name, Date.now()]);
      applied.push(m.version);
    }
    return applied;
  });
}
