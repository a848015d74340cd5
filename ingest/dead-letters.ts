// Dead letters: everything ingest refused, with the reason and exactly what was received.
// Always embedded (node:sqlite in the data dir, WAL, synchronous=FULL), also when readings go to
// InfluxDB, so the HTTP API and the CLI can list them. An add() has returned only once its rows
// are committed durably: ingest acks a batch only after its dead letters are recorded.
//
// Bounded per gateway (issue 11, quotas): one gateway sending garbage must not fill the centre's
// disk. Each site/gateway may keep at most `maxBytesPerGateway` of dead letters (raw + reason);
// past it, that gateway's OLDEST dead letters are dropped (never another gateway's), and every
// dead letter older than `retentionMs` is dropped. Drops are counted (dropped(), and the metric
// testbed_ingest_dead_letters_dropped_total{why}), so that a count that shrinks is explained.

import { type SqlCondition, whereClause } from '../lib/sql.ts';
import { join } from 'node:path';
import { openSqlite, transaction, type DatabaseSync } from '../lib/sqlite.ts';
import { ingestMetrics } from './metrics.ts';

/** Short classes for counting and metrics; the full reason stays in `reason`. */
export type DeadLetterClass =
  | 'invalid_topic'
  | 'invalid_json'
  | 'invalid_batch'
  | 'invalid_reading'
  | 'foreign_gateway'
  | 'oversize'
  | 'store_rejected'
  /** A gateway's state, health, event or command reply that fails its check (devices/channels.ts). */
  | 'invalid_state'
  | 'invalid_health'
  | 'invalid_event'
  | 'invalid_reply'
  /** Quarantined: a device the registry does not know, or not assigned where this gateway serves. */
  | 'unknown_device'
  /** Quarantined: a registered device this gateway may not report (another organisation's, another site's). */
  | 'foreign_device'
  /** Quarantined: a new device id beyond the gateway's quota of distinct devices. */
  | 'device_quota';

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

export interface DeadLetterLimits {
  /** Bytes of raw payload and reason kept per site/gateway; the oldest beyond are dropped. 0: no cap. */
  maxBytesPerGateway?: number | undefined;
  /** Dead letters older than this are dropped. 0: kept forever. */
  retentionMs?: number | undefined;
}

/** What counts against a gateway's cap: the raw payload and the reason, in bytes. */
const SIZE_SQL = 'length(CAST(raw AS BLOB)) + length(CAST(reason AS BLOB))';
/** Below the cap by this fraction after a trim, so that not every insert deletes. */
const TRIM_TO = 0.9;

export class DeadLetterStore {
  readonly path: string;
  #db: DatabaseSync;
  #limits: Required<DeadLetterLimits>;
  /** Bytes kept per gateway key (site \u0000 gateway; '' for none), loaded at open. */
  #bytes = new Map<string, number>();
  #dropped = { bytes: 0, age: 0 };
  #lastRetention = 0;

  /** `dataDirOrPath`: the data dir (the file is `dead-letters.sqlite` in it), a `.sqlite` path, or ':memory:'. */
  constructor(dataDirOrPath: string, limits: DeadLetterLimits = {}) {
    this.#limits = { maxBytesPerGateway: limits.maxBytesPerGateway ?? 0, retentionMs: limits.retentionMs ?? 0 };
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
    const rows = this.#db.prepare(`SELECT site, gateway, sum(${SIZE_SQL}) AS n FROM dead_letters GROUP BY site, gateway`).all() as {
      site: string | null;
      gateway: string | null;
      n: number;
    }[];
    for (const r of rows) this.#bytes.set(gwKey(r.site, r.gateway), Number(r.n));
    this.#applyRetention(Date.now());
  }

  /** Records the entries in one durable transaction; returns their ids. */
  add(entries: DeadLetterInput | DeadLetterInput[]): number[] {
    const list = Array.isArray(entries) ? entries : [entries];
    if (list.length === 0) return [];
    const insert = this.#db.prepare(
      'INSERT INTO dead_letters (received_at, site, gateway, batch, idx, class, reason, raw, encoding) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    const now = Date.now();
    const ids = transaction(this.#db, () => {
      const touched = new Set<string>();
      const out = list.map((e) => {
        const key = gwKey(e.site, e.gateway);
        this.#bytes.set(key, (this.#bytes.get(key) ?? 0) + Buffer.byteLength(e.raw) + Buffer.byteLength(e.reason));
        touched.add(key);
        return Number(
          insert.run(e.receivedAt ?? now, e.site, e.gateway, e.batch, e.index, e.class, e.reason, e.raw, e.encoding ?? 'utf8')
            .lastInsertRowid,
        );
      });
      // In the same transaction: a gateway past its cap never has more than the cap on disk.
      for (const key of touched) this.#trim(key);
      return out;
    });
    // Retention at most once a minute: a DELETE by age on every insert would be wasted work.
    if (now - this.#lastRetention >= 60_000) this.#applyRetention(now);
    return ids;
  }

  /** Drops one gateway's oldest dead letters until it is back under TRIM_TO of its cap. */
  #trim(key: string): void {
    const cap = this.#limits.maxBytesPerGateway;
    let bytes = this.#bytes.get(key) ?? 0;
    if (cap <= 0 || bytes <= cap) return;
    const [site, gateway] = splitKey(key);
    const target = cap * TRIM_TO;
    const select = this.#db.prepare(
      `SELECT id, ${SIZE_SQL} AS n FROM dead_letters WHERE site IS ? AND gateway IS ? ORDER BY id LIMIT 1000`,
    );
    const del = this.#db.prepare('DELETE FROM dead_letters WHERE id <= ? AND site IS ? AND gateway IS ?');
    while (bytes > target) {
      const rows = select.all(site, gateway) as { id: number; n: number }[];
      if (rows.length === 0) break;
      let upTo = -1;
      let count = 0;
      for (const r of rows) {
        if (bytes <= target) break;
        bytes -= Number(r.n);
        upTo = Number(r.id);
        count++;
      }
      if (upTo < 0) break;
      del.run(upTo, site, gateway);
      this.#dropped.bytes += count;
      ingestMetrics.deadLettersDropped.inc({ why: 'bytes' }, count);
    }
    this.#bytes.set(key, Math.max(0, bytes));
  }

  #applyRetention(now: number): void {
    this.#lastRetention = now;
    const keep = this.#limits.retentionMs;
    if (keep <= 0) return;
    const cutoff = now - keep;
    const gone = this.#db
      .prepare(`SELECT site, gateway, count(*) AS c, sum(${SIZE_SQL}) AS n FROM dead_letters WHERE received_at < ? GROUP BY site, gateway`)
      .all(cutoff) as { site: string | null; gateway: string | null; c: number; n: number }[];
    if (gone.length === 0) return;
    this.#db.prepare('DELETE FROM dead_letters WHERE received_at < ?').run(cutoff);
    for (const g of gone) {
      const key = gwKey(g.site, g.gateway);
      this.#bytes.set(key, Math.max(0, (this.#bytes.get(key) ?? 0) - Number(g.n)));
      this.#dropped.age += Number(g.c);
      ingestMetrics.deadLettersDropped.inc({ why: 'age' }, Number(g.c));
    }
  }

  /** Dead letters dropped since open: past a gateway's byte cap, or past the retention. */
  dropped(): { bytes: number; age: number } {
    return { ...this.#dropped };
  }

  /** Bytes (raw + reason) kept for one gateway. */
  bytesOf(site: string | null, gateway: string | null): number {
    return this.#bytes.get(gwKey(site, gateway)) ?? 0;
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

function gwKey(site: string | null, gateway: string | null): string {
  return site === null && gateway === null ? '' : `${site ?? ''}\u0000${gateway ?? ''}`;
}

function splitKey(key: string): [string | null, string | null] {
  if (key === '') return [null, null];
  const i = key.indexOf('\u0000');
  return [key.slice(0, i) || null, key.slice(i + 1) || null];
}

/** A reading as text for a dead letter; never throws (String() of a deeply nested array does). */
export function readingText(x: unknown): string {
  try {
    return JSON.stringify(x) ?? 'undefined';
  } catch (err) {
    return `(not serialisable: ${(err as Error).name})`;
  }
}
