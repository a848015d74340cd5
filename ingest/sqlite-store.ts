// The embedded readings store (the default when no InfluxDB is configured): one SQLite file in
// the data dir, WAL, synchronous=FULL. A reading is unique on (site, gateway, device, kind, seq),
// so a resend is INSERT … ON CONFLICT DO NOTHING: idempotent, exactly as a rewrite in InfluxDB.
// write() is one transaction; when it returns, the readings survive a power cut.

import { join } from 'node:path';
import { openSqlite, transaction, type DatabaseSync } from '../lib/sqlite.ts';
import { KIND_NAMES, isKind, type Kind } from '../devices/index.ts';
import { BED_SPAN_CAP_MS, DAY_MS, NIGHT_FROM_H, NIGHT_TO_H, localDayStart, reportingSlotMs, type DeviceDay, type DeviceDayQuery, type DeviceLast, type ReadingQuery, type ReadingStore, type StorePoint, type StoredReading, type WriteResult } from './types.ts';

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

  async lastSeen(q: { since?: number | undefined } = {}): Promise<DeviceLast[]> {
    // The newest reading per device (SQLite's bare-column rule: with max(ts) the other columns come from that row).
    const rows = this.#db
      .prepare(`SELECT site, gateway, device, kind, max(ts) AS ts, seq, tags FROM readings ${q.since !== undefined ? 'WHERE ts >= ?' : ''} GROUP BY site, gateway, device`)
      .all(...(q.since !== undefined ? [q.since] : [])) as { site: string; gateway: string; device: string; kind: string; ts: number; seq: number; tags: string | null }[];
    const battery = new Map<string, number>();
    for (const b of this.#db
      .prepare(`SELECT site, gateway, device, max(ts) AS ts, json_extract(q, '$.battery') AS battery FROM readings WHERE q IS NOT NULL AND json_extract(q, '$.battery') IS NOT NULL ${q.since !== undefined ? 'AND ts >= ?' : ''} GROUP BY site, gateway, device`)
      .all(...(q.since !== undefined ? [q.since] : [])) as { site: string; gateway: string; device: string; battery: number }[])
      battery.set(`${b.site}/${b.gateway}/${b.device}`, Number(b.battery));
    return rows.map((r) => ({
      site: r.site, gateway: r.gateway, device: r.device, kind: r.kind as Kind, ts: Number(r.ts), seq: Number(r.seq),
      battery: battery.get(`${r.site}/${r.gateway}/${r.device}`), tags: r.tags ? JSON.parse(r.tags) : {},
    }));
  }

  async deviceDays(q: DeviceDayQuery): Promise<DeviceDay[]> {
    const off = (q.utcOffsetMin ?? 0) * 60_000;
    const from = localDayStart(q.from, q.utcOffsetMin);
    const to = localDayStart(q.to - 1, q.utcOffsetMin) + DAY_MS;
    const site = q.site !== undefined ? ' AND site = ?' : '';
    const args: (string | number)[] = [from, to, ...(q.site !== undefined ? [q.site] : [])];
    // Slot length per kind, as a CASE (the catalogue is code, not a table).
    const slotCase = `CASE kind ${[...new Set(KIND_NAMES.map((k) => reportingSlotMs(k)))].flatMap((ms) => { const ks = KIND_NAMES.filter((k) => reportingSlotMs(k) === ms); return ks.map((k) => `WHEN '${k}' THEN ${ms}`); }).join(' ')} ELSE 3600000 END`;
    const dayExpr = `((ts + ${off}) / ${DAY_MS})`;
    const out = new Map<string, DeviceDay>();
    for (const r of this.#db
      .prepare(`SELECT site, gateway, device, kind, ${dayExpr} AS d, count(*) AS n, min(seq) AS lo, max(seq) AS hi, count(DISTINCT (ts + ${off}) / (${slotCase})) AS slots
        FROM readings WHERE ts >= ? AND ts < ?${site} GROUP BY site, gateway, device, kind, d`)
      .all(...args) as { site: string; gateway: string; device: string; kind: string; d: number; n: number; lo: number; hi: number; slots: number }[]) {
      out.set(`${r.site}/${r.gateway}/${r.device}/${r.kind}/${r.d}`, {
        site: r.site, gateway: r.gateway, device: r.device, kind: r.kind as Kind, day: Number(r.d) * DAY_MS - off,
        readings: Number(r.n), minSeq: Number(r.lo), maxSeq: Number(r.hi), slots: Number(r.slots),
      });
    }
    const add = (rows: { site: string; gateway: string; device: string; kind: string; d: number; x: number }[], field: 'intakeMl' | 'nightFlushes' | 'bedMs') => {
      for (const r of rows) {
        const dd = out.get(`${r.site}/${r.gateway}/${r.device}/${r.kind}/${r.d}`);
        if (dd) dd[field] = Number(r.x ?? 0);
      }
    };
    type Agg = { site: string; gateway: string; device: string; kind: string; d: number; x: number };
    add(this.#db.prepare(`SELECT site, gateway, device, kind, ${dayExpr} AS d, sum(json_extract(v, '$.intake_ml')) AS x FROM readings WHERE kind = 'hydration' AND ts >= ? AND ts < ?${site} GROUP BY site, gateway, device, kind, d`).all(...args) as Agg[], 'intakeMl');
    const hour = `(((ts + ${off}) % ${DAY_MS}) / 3600000)`;
    add(
      this.#db.prepare(`SELECT site, gateway, device, kind, ${dayExpr} AS d, sum(CASE WHEN json_extract(v, '$.flush') AND (${hour} >= ${NIGHT_FROM_H} OR ${hour} < ${NIGHT_TO_H}) THEN 1 ELSE 0 END) AS x FROM readings WHERE kind = 'toilet' AND ts >= ? AND ts < ?${site} GROUP BY site, gateway, device, kind, d`).all(...args) as Agg[],
      'nightFlushes',
    );
    add(
      this.#db
        .prepare(`SELECT site, gateway, device, kind, d, sum(dur) AS x FROM (
          SELECT site, gateway, device, kind, ${dayExpr} AS d,
            CASE WHEN json_extract(v, '$.occupied') THEN min(coalesce(lead(ts) OVER (PARTITION BY site, gateway, device ORDER BY ts), ts) - ts, ${BED_SPAN_CAP_MS}) ELSE 0 END AS dur
          FROM readings WHERE kind = 'bed' AND ts >= ? AND ts < ?${site}) GROUP BY site, gateway, device, kind, d`)
        .all(...args) as Agg[],
      'bedMs',
    );
    return [...out.values()];
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
