// The embedded readings store (the default when no InfluxDB is configured): one SQLite file in
// the data dir, WAL, synchronous=FULL. A reading is unique on (site, gateway, device, kind, seq,
// ts), so a resend is INSERT … ON CONFLICT DO NOTHING: idempotent, exactly as a rewrite in
// InfluxDB. The ts is part of the key because a device's seq can start again from 1 (its
// gateway's outbox wiped, a simulator restarted): those readings are new and must be kept.
// write() is one transaction; when it returns, the readings survive a power cut.
// Queries go through a second connection opened read-only: whatever a query's text became, SQLite
// refuses to change data through it ("attempt to write a readonly database"). Their values are
// checked against their patterns first (./types.ts) and always bound as parameters.

import { join } from 'node:path';
import { DatabaseSync as ReadOnlySqlite } from 'node:sqlite';
import { openSqlite, transaction, type DatabaseSync } from '../lib/sqlite.ts';
import { quoteSqlString } from '../lib/quote.ts';
import { type SqlParam, whereClause } from '../lib/sql.ts';
import { KIND_NAMES, isKind, type Kind } from '../devices/index.ts';
import {
  DAY_MS,
  NIGHT_FROM_H,
  checkDeviceDayQuery,
  checkReadingQuery,
  checkSince,
  NIGHT_TO_H,
  localDayStart,
  reportingSlotMs,
  type DeviceDay,
  type DeviceDayQuery,
  type DeviceLast,
  type ReadingQuery,
  type ReadingStore,
  type StorePoint,
  type StoredReading,
  type WriteResult,
} from './types.ts';

export class SqliteStore implements ReadingStore {
  readonly name = 'sqlite' as const;
  readonly path: string;
  #db: DatabaseSync;
  /** Read-only connection for every query (the same as #db only for `:memory:`, which cannot be opened twice). */
  #read: DatabaseSync;

  /** Local-day boundary of the daily rollup (minutes from UTC); other offsets are answered from the readings. */
  readonly rollupUtcOffsetMin: number;

  constructor(dataDirOrPath: string, opts: { rollupUtcOffsetMin?: number | undefined } = {}) {
    this.rollupUtcOffsetMin = opts.rollupUtcOffsetMin ?? 60;
    this.path = dataDirOrPath === ':memory:' || dataDirOrPath.endsWith('.sqlite') ? dataDirOrPath : join(dataDirOrPath, 'readings.sqlite');
    this.#db = openSqlite(this.path);
    this.#migrateKey();
    this.#db.exec(`CREATE TABLE IF NOT EXISTS readings (
      site TEXT NOT NULL, gateway TEXT NOT NULL, device TEXT NOT NULL, kind TEXT NOT NULL, seq INTEGER NOT NULL,
      ts INTEGER NOT NULL,
      received_at INTEGER NOT NULL,
      v TEXT NOT NULL,
      q TEXT,
      tags TEXT,
      PRIMARY KEY (site, gateway, device, kind, seq, ts)
    ) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS readings_ts ON readings (ts);
    CREATE INDEX IF NOT EXISTS readings_kind_ts ON readings (kind, ts);`);
    // Daily rollup for monitoring (completeness, loss, outcomes), kept in the write transaction:
    // one row per device and local day, with a bitmask of the hours that had a reading.
    this.#db.exec(`CREATE TABLE IF NOT EXISTS device_days (
      site TEXT NOT NULL, gateway TEXT NOT NULL, device TEXT NOT NULL, kind TEXT NOT NULL, day INTEGER NOT NULL,
      off INTEGER NOT NULL, n INTEGER NOT NULL, lo INTEGER NOT NULL, hi INTEGER NOT NULL, hours INTEGER NOT NULL,
      intake REAL NOT NULL DEFAULT 0, night_flushes INTEGER NOT NULL DEFAULT 0, bed_hours INTEGER NOT NULL DEFAULT 0,
      PRIMARY KEY (off, day, site, gateway, device, kind)
    ) WITHOUT ROWID`);
    const hasRollup = this.#db.prepare('SELECT 1 FROM device_days WHERE off = ? LIMIT 1').get(this.rollupUtcOffsetMin) !== undefined;
    const hasReadings = this.#db.prepare('SELECT 1 FROM readings LIMIT 1').get() !== undefined;
    if (!hasRollup && hasReadings) this.#rebuildRollup();
    this.#read = this.path === ':memory:' ? this.#db : new ReadOnlySqlite(this.path, { readOnly: true });
    if (this.#read !== this.#db) this.#read.exec('PRAGMA busy_timeout = 5000');
  }

  /** A data dir from before ts was part of the key: rebuild the table with the new key, keeping every row. */
  #migrateKey(): void {
    const row = this.#db.prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'readings'").get() as
      | { sql: string }
      | undefined;
    if (!row || /PRIMARY KEY \(site, gateway, device, kind, seq, ts\)/.test(row.sql)) return;
    transaction(this.#db, () => {
      this.#db.exec(
        'ALTER TABLE readings RENAME TO readings_before_ts_key; DROP INDEX IF EXISTS readings_ts; DROP INDEX IF EXISTS readings_kind_ts;',
      );
      this.#db.exec(`CREATE TABLE readings (
        site TEXT NOT NULL, gateway TEXT NOT NULL, device TEXT NOT NULL, kind TEXT NOT NULL, seq INTEGER NOT NULL,
        ts INTEGER NOT NULL, received_at INTEGER NOT NULL, v TEXT NOT NULL, q TEXT, tags TEXT,
        PRIMARY KEY (site, gateway, device, kind, seq, ts)
      ) WITHOUT ROWID;
      INSERT INTO readings SELECT site, gateway, device, kind, seq, ts, received_at, v, q, tags FROM readings_before_ts_key;
      DROP TABLE readings_before_ts_key;`);
    });
  }

  /** Builds the rollup from the readings (a data dir from before the rollup existed). */
  #rebuildRollup(): void {
    const acc = new Rollup(this.rollupUtcOffsetMin);
    for (const r of this.#db.prepare('SELECT site, gateway, device, kind, seq, ts, v FROM readings').iterate() as Iterable<{
      site: string;
      gateway: string;
      device: string;
      kind: string;
      seq: number;
      ts: number;
      v: string;
    }>) {
      acc.add(r.site, r.gateway, r.device, r.kind, Number(r.seq), Number(r.ts), JSON.parse(r.v));
    }
    transaction(this.#db, () => acc.flush(this.#db));
  }

  async init(): Promise<void> {}

  async write(points: StorePoint[]): Promise<WriteResult> {
    const rejected: WriteResult['rejected'] = [];
    if (points.length === 0) return { rejected };
    const insert = this.#db.prepare(
      `INSERT INTO readings (site, gateway, device, kind, seq, ts, received_at, v, q, tags)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
    );
    const now = Date.now();
    const rollup = new Rollup(this.rollupUtcOffsetMin);
    transaction(this.#db, () => {
      for (const p of points) {
        const r = p.reading;
        const res = insert.run(
          p.site,
          p.gateway,
          r.dev,
          r.kind,
          r.seq,
          r.ts,
          now,
          JSON.stringify(r.v),
          r.q ? JSON.stringify(r.q) : null,
          p.tags && Object.keys(p.tags).length ? JSON.stringify(p.tags) : null,
        );
        if (Number(res.changes) > 0) rollup.add(p.site, p.gateway, r.dev, r.kind, r.seq, r.ts, r.v);
      }
      rollup.flush(this.#db);
    });
    return { rejected };
  }

  async queryReadings(q: ReadingQuery = {}): Promise<StoredReading[]> {
    const { where, args } = readingFilter(q);
    const limit = q.limit !== undefined ? ' LIMIT ?' : '';
    const rows = this.#read
      .prepare(`SELECT * FROM readings ${where} ORDER BY ts, device, seq${limit}`)
      .all(...args, ...(limit ? [q.limit!] : [])) as Record<string, unknown>[];
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
    const { where, args } = readingFilter(q);
    return Number((this.#read.prepare(`SELECT count(*) AS n FROM readings ${where}`).get(...args) as { n: number }).n);
  }

  depth(): number {
    return 0;
  }

  async lastSeen(q: { since?: number | undefined } = {}): Promise<DeviceLast[]> {
    checkSince(q);
    // The newest reading per device (SQLite's bare-column rule: with max(ts) the other columns come from that row).
    const rows = this.#read
      .prepare(
        `SELECT site, gateway, device, kind, max(ts) AS ts, seq, tags FROM readings
         ${q.since !== undefined ? 'WHERE ts >= ?' : ''} GROUP BY site, gateway, device`,
      )
      .all(...(q.since !== undefined ? [q.since] : [])) as {
      site: string;
      gateway: string;
      device: string;
      kind: string;
      ts: number;
      seq: number;
      tags: string | null;
    }[];
    const battery = new Map<string, number>();
    for (const b of this.#read
      .prepare(
        `SELECT site, gateway, device, max(ts) AS ts, json_extract(q, '$.battery') AS battery FROM readings
         WHERE q IS NOT NULL AND json_extract(q, '$.battery') IS NOT NULL ${q.since !== undefined ? 'AND ts >= ?' : ''}
         GROUP BY site, gateway, device`,
      )
      .all(...(q.since !== undefined ? [q.since] : [])) as { site: string; gateway: string; device: string; battery: number }[])
      battery.set(`${b.site}/${b.gateway}/${b.device}`, Number(b.battery));
    return rows.map((r) => ({
      site: r.site,
      gateway: r.gateway,
      device: r.device,
      kind: r.kind as Kind,
      ts: Number(r.ts),
      seq: Number(r.seq),
      battery: battery.get(`${r.site}/${r.gateway}/${r.device}`),
      tags: r.tags ? JSON.parse(r.tags) : {},
    }));
  }

  async deviceDays(q: DeviceDayQuery): Promise<DeviceDay[]> {
    checkDeviceDayQuery(q);
    if ((q.utcOffsetMin ?? 0) === this.rollupUtcOffsetMin) return this.#fromRollup(q);
    return this.#fromReadings(q);
  }

  /** From the daily rollup: one row per device-day, hour bitmasks folded into slots here. */
  #fromRollup(q: DeviceDayQuery): DeviceDay[] {
    const off = this.rollupUtcOffsetMin * 60_000;
    const from = (localDayStart(q.from, this.rollupUtcOffsetMin) + off) / DAY_MS;
    const to = (localDayStart(q.to - 1, this.rollupUtcOffsetMin) + off) / DAY_MS + 1;
    const rows = this.#read
      .prepare(`SELECT * FROM device_days WHERE off = ? AND day >= ? AND day < ?${q.site !== undefined ? ' AND site = ?' : ''}`)
      .all(this.rollupUtcOffsetMin, from, to, ...(q.site !== undefined ? [q.site] : [])) as Record<string, number | string>[];
    return rows.map((r) => {
      const kind = String(r.kind) as Kind;
      const hours = Number(r.hours);
      const slotH = isKind(kind) ? reportingSlotMs(kind) / 3_600_000 : 1;
      let slots = 0;
      for (let h = 0; h < 24; h += slotH) if ((hours >>> h) & ((1 << slotH) - 1)) slots++;
      const d: DeviceDay = {
        site: String(r.site),
        gateway: String(r.gateway),
        device: String(r.device),
        kind,
        day: Number(r.day) * DAY_MS - off,
        readings: Number(r.n),
        minSeq: Number(r.lo),
        maxSeq: Number(r.hi),
        slots,
      };
      if (kind === 'hydration') d.intakeMl = Number(r.intake);
      if (kind === 'toilet') d.nightFlushes = Number(r.night_flushes);
      if (kind === 'bed') d.bedMs = popcount(Number(r.bed_hours)) * 3_600_000;
      return d;
    });
  }

  /** Straight from the readings, for a local-day offset the rollup does not keep. */
  async #fromReadings(q: DeviceDayQuery): Promise<DeviceDay[]> {
    const off = (q.utcOffsetMin ?? 0) * 60_000;
    const from = localDayStart(q.from, q.utcOffsetMin);
    const to = localDayStart(q.to - 1, q.utcOffsetMin) + DAY_MS;
    const site = q.site !== undefined ? ' AND site = ?' : '';
    const args: (string | number)[] = [from, to, ...(q.site !== undefined ? [q.site] : [])];
    // Slot length per kind, as a CASE (the catalogue is code, not a table).
    const whens = KIND_NAMES.map((k) => `WHEN ${quoteSqlString(k)} THEN ${reportingSlotMs(k)}`);
    const slotCase = `CASE kind ${whens.join(' ')} ELSE 3600000 END`;
    const dayExpr = `((ts + ${off}) / ${DAY_MS})`;
    const out = new Map<string, DeviceDay>();
    for (const r of this.#read
      .prepare(`SELECT site, gateway, device, kind, ${dayExpr} AS d, count(*) AS n, min(seq) AS lo, max(seq) AS hi,
          count(DISTINCT (ts + ${off}) / (${slotCase})) AS slots
        FROM readings WHERE ts >= ? AND ts < ?${site} GROUP BY site, gateway, device, kind, d`)
      .all(...args) as {
      site: string;
      gateway: string;
      device: string;
      kind: string;
      d: number;
      n: number;
      lo: number;
      hi: number;
      slots: number;
    }[]) {
      out.set(`${r.site}/${r.gateway}/${r.device}/${r.kind}/${r.d}`, {
        site: r.site,
        gateway: r.gateway,
        device: r.device,
        kind: r.kind as Kind,
        day: Number(r.d) * DAY_MS - off,
        readings: Number(r.n),
        minSeq: Number(r.lo),
        maxSeq: Number(r.hi),
        slots: Number(r.slots),
      });
    }
    const add = (
      rows: { site: string; gateway: string; device: string; kind: string; d: number; x: number }[],
      field: 'intakeMl' | 'nightFlushes' | 'bedMs',
    ) => {
      for (const r of rows) {
        const dd = out.get(`${r.site}/${r.gateway}/${r.device}/${r.kind}/${r.d}`);
        if (dd) dd[field] = Number(r.x ?? 0);
      }
    };
    type Agg = { site: string; gateway: string; device: string; kind: string; d: number; x: number };
    // One value per device and day of one kind: `x` computed over that kind's readings.
    const perDay = (x: string, kind: Kind) =>
      `SELECT site, gateway, device, kind, ${dayExpr} AS d, ${x} AS x FROM readings
       WHERE kind = ${quoteSqlString(kind)} AND ts >= ? AND ts < ?${site} GROUP BY site, gateway, device, kind, d`;
    add(this.#read.prepare(perDay(`sum(json_extract(v, '$.intake_ml'))`, 'hydration')).all(...args) as Agg[], 'intakeMl');
    const hour = `(((ts + ${off}) % ${DAY_MS}) / 3600000)`;
    add(
      this.#read
        .prepare(
          perDay(
            `sum(CASE WHEN json_extract(v, '$.flush') AND (${hour} >= ${NIGHT_FROM_H} OR ${hour} < ${NIGHT_TO_H}) THEN 1 ELSE 0 END)`,
            'toilet',
          ),
        )
        .all(...args) as Agg[],
      'nightFlushes',
    );
    add(
      this.#read
        .prepare(perDay(`count(DISTINCT CASE WHEN json_extract(v, '$.occupied') THEN (ts + ${off}) / 3600000 END) * 3600000`, 'bed'))
        .all(...args) as Agg[],
      'bedMs',
    );
    return [...out.values()];
  }

  /** The embedded store is a file: it answers when its read connection does. */
  async probe(): Promise<void> {
    this.#read.prepare('SELECT 1').get();
  }

  async close(): Promise<void> {
    if (this.#read !== this.#db && this.#read.isOpen) this.#read.close();
    if (this.#db.isOpen) this.#db.close();
  }
}

function readingFilter(q: ReadingQuery): { where: string; args: SqlParam[] } {
  checkReadingQuery(q);
  const w = whereClause([
    ['site = ?', q.site],
    ['gateway = ?', q.gateway],
    ['device = ?', q.device],
    ['kind = ?', q.kind],
    ['ts >= ?', q.from],
    ['ts < ?', q.to],
  ]);
  return { where: w.sql, args: w.params };
}

/** Per device and local day, what a write adds to the rollup; flushed as upserts in the same transaction. */
class Rollup {
  readonly #off: number;
  readonly #rows = new Map<
    string,
    {
      site: string;
      gateway: string;
      device: string;
      kind: string;
      day: number;
      n: number;
      lo: number;
      hi: number;
      hours: number;
      intake: number;
      night: number;
      bed: number;
    }
  >();

  constructor(utcOffsetMin: number) {
    this.#off = utcOffsetMin * 60_000;
  }

  add(site: string, gateway: string, device: string, kind: string, seq: number, ts: number, v: Record<string, unknown>): void {
    const local = ts + this.#off;
    const day = Math.floor(local / DAY_MS);
    const hour = Math.floor((local - day * DAY_MS) / 3_600_000);
    const key = `${site}\u0000${gateway}\u0000${device}\u0000${kind}\u0000${day}`;
    let r = this.#rows.get(key);
    if (!r) {
      r = { site, gateway, device, kind, day, n: 0, lo: seq, hi: seq, hours: 0, intake: 0, night: 0, bed: 0 };
      this.#rows.set(key, r);
    }
    r.n++;
    if (seq < r.lo) r.lo = seq;
    if (seq > r.hi) r.hi = seq;
    r.hours |= 1 << hour;
    if (kind === 'hydration' && typeof v.intake_ml === 'number') r.intake += v.intake_ml;
    if (kind === 'toilet' && v.flush === true && (hour >= NIGHT_FROM_H || hour < NIGHT_TO_H)) r.night++;
    if (kind === 'bed' && v.occupied === true) r.bed |= 1 << hour;
  }

  flush(db: DatabaseSync): void {
    if (this.#rows.size === 0) return;
    const up =
      db.prepare(`INSERT INTO device_days (site, gateway, device, kind, day, off, n, lo, hi, hours, intake, night_flushes, bed_hours)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (off, day, site, gateway, device, kind) DO UPDATE SET n = n + excluded.n, lo = min(lo, excluded.lo),
        hi = max(hi, excluded.hi), hours = hours | excluded.hours, intake = intake + excluded.intake,
        night_flushes = night_flushes + excluded.night_flushes, bed_hours = bed_hours | excluded.bed_hours`);
    for (const r of this.#rows.values())
      up.run(r.site, r.gateway, r.device, r.kind, r.day, this.#off / 60_000, r.n, r.lo, r.hi, r.hours, r.intake, r.night, r.bed);
    this.#rows.clear();
  }
}

function popcount(x: number): number {
  let n = 0;
  for (let v = x >>> 0; v; v &= v - 1) n++;
  return n;
}
