// Monitoring's own state, in `monitor.sqlite` in the data dir (WAL, synchronous=FULL): alerts and
// their lifecycle log, thresholds per scope, maintenance windows, trial periods (baseline /
// intervention), webhooks and their delivery outbox, and gateway online/offline transitions
// (for "why is this day incomplete"). The registry's database is not extended: its migrations
// belong to the registry, and alerts are written at a rate the registry need not carry.

import { join } from 'node:path';
import { openSqlite, type DatabaseSync } from '../lib/sqlite.ts';

export class MonitorDb {
  readonly db: DatabaseSync;
  readonly path: string;

  constructor(dataDirOrPath: string) {
    this.path = dataDirOrPath === ':memory:' || dataDirOrPath.endsWith('.sqlite') ? dataDirOrPath : join(dataDirOrPath, 'monitor.sqlite');
    this.db = openSqlite(this.path);
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS alerts (
        id TEXT PRIMARY KEY,
        key TEXT NOT NULL,
        rule TEXT NOT NULL,
        severity TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('open', 'acknowledged', 'resolved')),
        site TEXT NOT NULL,
        gateway TEXT,
        device TEXT,
        home TEXT,
        participant TEXT,
        message TEXT NOT NULL,
        opened_at INTEGER NOT NULL,
        measured_at INTEGER NOT NULL,
        acknowledged_at INTEGER,
        acknowledged_by TEXT,
        escalated_at INTEGER,
        escalations INTEGER NOT NULL DEFAULT 0,
        resolved_at INTEGER,
        resolved_by TEXT,
        label TEXT CHECK (label IS NULL OR label IN ('true', 'false')),
        labelled_by TEXT,
        labelled_at INTEGER,
        note TEXT,
        details TEXT NOT NULL DEFAULT '{}'
      );
      CREATE INDEX IF NOT EXISTS alerts_key ON alerts (key, status);
      CREATE INDEX IF NOT EXISTS alerts_site ON alerts (site, opened_at);
      CREATE TABLE IF NOT EXISTS alert_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        alert_id TEXT NOT NULL,
        type TEXT NOT NULL,
        at INTEGER NOT NULL,
        actor TEXT,
        site TEXT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS thresholds (
        scope TEXT PRIMARY KEY,
        body TEXT NOT NULL,
        updated_at INTEGER NOT NULL,
        updated_by TEXT
      );
      CREATE TABLE IF NOT EXISTS maintenance (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        site TEXT NOT NULL,
        gateway TEXT,
        device TEXT,
        from_ts INTEGER NOT NULL,
        to_ts INTEGER NOT NULL,
        reason TEXT,
        created_by TEXT,
        created_at INTEGER NOT NULL
      );
      CREATE TABLE IF NOT EXISTS periods (
        trial_id TEXT PRIMARY KEY,
        baseline_from INTEGER NOT NULL,
        baseline_to INTEGER NOT NULL,
        intervention_from INTEGER NOT NULL,
        intervention_to INTEGER NOT NULL,
        updated_by TEXT,
        updated_at INTEGER NOT NULL
      );
      CREATE TABLE IF NOT EXISTS webhooks (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        url TEXT NOT NULL UNIQUE,
        secret TEXT,
        sites TEXT,
        created_by TEXT,
        created_at INTEGER NOT NULL
      );
      CREATE TABLE IF NOT EXISTS webhook_outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        webhook_id INTEGER NOT NULL,
        event_id INTEGER NOT NULL,
        body TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at INTEGER NOT NULL,
        delivered_at INTEGER,
        failed_at INTEGER,
        last_error TEXT
      );
      CREATE INDEX IF NOT EXISTS webhook_due ON webhook_outbox (next_at) WHERE delivered_at IS NULL AND failed_at IS NULL;
      CREATE TABLE IF NOT EXISTS gateway_log (
        site TEXT NOT NULL,
        gateway TEXT NOT NULL,
        at INTEGER NOT NULL,
        online INTEGER NOT NULL
      );
      CREATE INDEX IF NOT EXISTS gateway_log_at ON gateway_log (site, gateway, at);
    `);
  }

  close(): void {
    if (this.db.isOpen) this.db.close();
  }
}
