// Dead letters: everything ingest refused, with the reason and exactly what was received.
// Always embedded (node:sqlite in the data dir, WAL, synchronous=FULL), also when readings go to
// InfluxDB, so the HTTP API and the CLI can list them. An add() has returned only once its rows
// are committed durably: ingest acks a batch only after its dead letters are recorded.

import { type SqlCondition, whereClause } from '../lib/sql.ts';
import { join } from 'node:path';
import { openSqlite, transaction, type DatabaseSync } from '../lib/sqlite.ts';

/** Short classes for counting and metrics; the full reason stays in `reason`. */
export type DeadLetterClass =
  | 'invalid_topic'
  | 'invalid_json'
  | 'invalid_batch'
  | 'invalid_reading'
  | 'foreign_gateway'
  | 'oversize'
  | 'store_rejected';

export interface DeadLetterInput {
  receivedAt?: number;
  site: string | null;
  gateway: string | null;
  batch: number | null;
  /** Index in the batch's readings; null when the whole payload was refused. */
  index: number | null;
  class: DeadLetterClass;
  reason: string;
  /** The payload or reading as received: text, or base64 when it was not UTF-8 (see encoding). */
  raw: string;
  encoding?: 'utf8' | 'base64';
}

export interface DeadLetter {
  id: number;
  receivedAt: number;
  site: string | null;
  gateway: string | null;
  batch: number | null;
  index: number | null;
  class: string;
  reason: string;
  raw: string;
  encoding: 'utf8' | 'base64';
}

export interface DeadLetterQuery {
  site?: string | undefined;
  gateway?: string | undefined;
  /** Received at or after, epoch ms. */
  since?: number | undefined;
  limit?: number | undefined;
  /** The caller's scope, applied before the limit: only these sites / `site/gateway` pairs (null or absent: all). */
  sites?: readonly string[] | null | undefined;
  gateways?: readonly string[] | null | undefined;
}

/** Conditions for a caller's scope: a dead letter without a site or gateway is outside every limited scope. */
function scopeConditions(q: Pick<DeadLetterQuery, 'sites' | 'gateways'>): SqlCondition[] {
  return [
    q.sites ? ['site IN (SELECT value FROM json_each(?))', JSON.stringify(q.sites)] : false,
    q.gateways ? ["(site || '/' || gateway) IN (SELECT value FROM json_each(?))", JSON.stringify(q.gateways)] : false,
  ];
}

/** The payload as text when it is valid UTF-8, else base64. */
export function rawPayload(payload: Buffer | Uint8Array): { raw: string; encoding: 'utf8' | 'base64' } {
  try {
    return { raw: new TextDecoder('utf-8', { fatal: true }).decode(payload), encoding: 'utf8' };
  } catch {
    return { raw: Buffer.from(payload).toString('base64'), encoding: 'base64' };
  }
}

export class DeadLetterStore {
  readonly path: string;
  #db: DatabaseSync;

  /** `dataDirOrPath`: the data dir (the file is `dead-letters.sqlite` in it), a `.sqlite` path, or ':memory:'. */
  constructor(dataDirOrPath: string) {
    this.path =
      dataDirOrPath === ':memory:' || dataDirOrPath.endsWith('.sqlite') ? dataDirOrPath : join(dataDirOrPath, 'dead-letters.sqlite');
    this.#db = openSqlite(this.path);
    this.#db.exec(`CREATE TABLE IF NOT EXISTS dead_letters (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      received_at INTEGER NOT NULL,
      site TEXT, gateway TEXT, batch INTEGER, idx INTEGER,
      class TEXT NOT NULL,
      reason TEXT NOT NULL,
      raw TEXT NOT NULL,
      encoding TEXT NOT NULL DEFAULT 'utf8'
    );
    CREATE INDEX IF NOT EXISTS dead_letters_received ON dead_letters (received_at);
    CREATE INDEX IF NOT EXISTS dead_letters_gateway ON dead_letters (site, gateway, received_at);`);
  }

  /** Records the entries in one durable transaction; returns their ids. */
  add(entries: DeadLetterInput | DeadLetterInput[]): number[] {
    const list = Array.isArray(entries) ? entries : [entries];
    if (list.length === 0) return [];
    const insert = this.#db.prepare(
      'INSERT INTO dead_letters (received_at, site, gateway, batch, idx, class, reason, raw, encoding) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    const now = Date.now();
    return transaction(this.#db, () =>
      list.map((e) =>
        Number(
          insert.run(e.receivedAt ?? now, e.site, e.gateway, e.batch, e.index, e.class, e.reason, e.raw, e.encoding ?? 'utf8')
            .lastInsertRowid,
        ),
      ),
    );
  }

  /** Newest first. */
  list(q: DeadLetterQuery = {}): DeadLetter[] {
    const w = whereClause([['site = ?', q.site], ['gateway = ?', q.gateway], ['received_at >= ?', q.since], ...scopeConditions(q)]);
    const limit = Math.max(1, Math.min(q.limit ?? 100, 100_000));
    const rows = this.#db.prepare(`SELECT * FROM dead_letters${w.sql} ORDER BY id DESC LIMIT ${limit}`).all(...w.params) as Record<
      string,
      unknown
    >[];
    return rows.map((r) => ({
      id: Number(r.id),
      receivedAt: Number(r.received_at),
      site: (r.site as string | null) ?? null,
      gateway: (r.gateway as string | null) ?? null,
      batch: r.batch === null ? null : Number(r.batch),
      index: r.idx === null ? null : Number(r.idx),
      class: String(r.class),
      reason: String(r.reason),
      raw: String(r.raw),
      encoding: r.encoding === 'base64' ? 'base64' : 'utf8',
    }));
  }

  count(scope: Pick<DeadLetterQuery, 'sites' | 'gateways'> = {}): number {
    const w = whereClause(scopeConditions(scope));
    return Number((this.#db.prepare(`SELECT count(*) AS n FROM dead_letters${w.sql}`).get(...w.params) as { n: number }).n);
  }

  /** Counts by short class (invalid_json, invalid_reading, foreign_gateway, store_rejected, …). */
  countByReason(scope: Pick<DeadLetterQuery, 'sites' | 'gateways'> = {}): Record<string, number> {
    const w = whereClause(scopeConditions(scope));
    const rows = this.#db
      .prepare(`SELECT class, count(*) AS n FROM dead_letters${w.sql} GROUP BY class ORDER BY class`)
      .all(...w.params) as {
      class: string;
      n: number;
    }[];
    return Object.fromEntries(rows.map((r) => [r.class, Number(r.n)]));
  }

  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }
}
