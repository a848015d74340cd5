// The embedded readings store (the default when no InfluxDB is configured): one SQLite file in
// the data dir, WAL, synchronous=FULL. A reading is unique on (site, gateway, device, kind, seq),
// so a resend is INSERT … ON CONFLICT DO NOTHING: idempotent, exactly as a rewrite in InfluxDB.
// write() is one transaction; when it returns, the readings survive a power cut.

import { join } from 'node:path';
import { openSqlite, transaction, type DatabaseSync } from '../lib/sqlite.ts';
import { isKind, type Kind } from '../devices/index.ts';
import type { ReadingQuery, ReadingStore, StorePoint, StoredReading, WriteResult } from './types.ts';

export class SqliteStore implements ReadingStore {
  readonly name = 'sqlite' as const;
  readonly path: string;
  #db: DatabaseSync;

  constructor(dataDirOrPath: string) {
    this.path = dataDirOrPath === ':memory:' || dataDirOrPath.endsWith('.sqlite') ? dataDirOrPath : join(dataDirOrPath, 'readings.sqlite');
    this.#db = openSqlite(this.path);
    this.#db.exec(`CREATE TABLE IF NOT EXISTS readings (
      site TEXT NOT NULL, gateway TEXT NOT NULL, device TEXT NOT NULL, kind TEXT NOT NULL, seq INTEGER NOT NULL,
      ts INTEGER NOT NULL,
      received_at INTEGER NOT NULL,
      v TEXT NOT NULL,
      q TEXT,
      tags TEXT,
      PRIMARY KEY (site, gateway, device, kind, seq)
    ) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS readings_ts ON readings (ts);
    CREATE INDEX IF NOT EXISTS readings_kind_ts ON readings (kind, ts);`);
  }

  async init(): Promise<void> {}

  async write(points: StorePoint[]): Promise<WriteResult> {
    const rejected: WriteResult['rejected'] = [];
    if (points.length === 0) return { rejected };
    const insert = this.#db.prepare(
      'INSERT INTO readings (site, gateway, device, kind, seq, ts, received_at, v, q, tags) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
    );
    const now = Date.now();
    transaction(this.#db, () => {
      for (const p of points) {
        const r = p.reading;
        insert.run(p.site, p.gateway, r.dev, r.kind, r.seq, r.ts, now, JSON.stringify(r.v), r.q ? JSON.stringify(r.q) : null, p.tags && Object.keys(p.tags).length ? JSON.stringify(p.tags) : null);
      }
    });
    return { rejected };
  }

  async queryReadings(q: ReadingQuery = {}): Promise<StoredReading[]> {
    const { where, args } = whereClause(q);
    const limit = q.limit !== undefined ? ` LIMIT ${Math.max(0, Math.floor(q.limit))}` : '';
    const rows = this.#db.prepare(`SELECT * FROM readings ${where} ORDER BY ts, device, seq${limit}`).all(...args) as Record<string, unknown>[];
    return rows.map((r) => ({
      kind: (isKind(r.kind) ? r.kind : String(r.kind)) as Kind,
      site: String(r.site),
      gateway: String(r.gateway),
      device: String(r.device),
      seq: Number(r.seq),
      ts: Number(r.ts),
      v: JSON.parse(String(r.v)),
      q: r.q ? JSON.parse(String(r.q)) : {},
      tags: r.tags ? JSON.parse(String(r.tags)) : {},
    }));
  }

  /** Readings stored (optionally filtered). Synchronous: SQLite answers at once. */
  count(q: ReadingQuery = {}): number {
    const { where, args } = whereClause(q);
    return Number((this.#db.prepare(`SELECT count(*) AS n FROM readings ${where}`).get(...args) as { n: number }).n);
  }

  depth(): number {
    return 0;
  }

  async close(): Promise<void> {
    if (this.#db.isOpen) this.#db.close();
  }
}

function whereClause(q: ReadingQuery): { where: string; args: (string | number)[] } {
  const where: string[] = [];
  const args: (string | number)[] = [];
  const eq = (col: string, v: string | undefined) => v !== undefined && (where.push(`${col} = ?`), args.push(v));
  eq('site', q.site);
  eq('gateway', q.gateway);
  eq('device', q.device);
  eq('kind', q.kind);
  if (q.from !== undefined) (where.push('ts >= ?'), args.push(q.from));
  if (q.to !== undefined) (where.push('ts < ?'), args.push(q.to));
  return { where: where.length ? 'WHERE ' + where.join(' AND ') : '', args };
}
