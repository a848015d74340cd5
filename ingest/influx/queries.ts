// The query side of the InfluxDB store: readings and the aggregates monitoring needs, in InfluxQL
// over v1 /query (InfluxDB 2.x answers it with a DBRP mapping). node-influx (`influx`) sends the
// queries; every value is checked against its own pattern first (../types.ts checkReadingQuery…),
// then every name and value in them is quoted by lib/quote.ts. The queries go with the read-only
// user when one is configured (InfluxDB refuses a write or DROP through it), and an InfluxDB
// error's text stays in the log: the caller gets 503 (unreachable) or a generic 500.

import { InfluxDB as InfluxQLClient } from 'influx';
import { KINDS, KIND_NAMES, QUALITY_FIELDS, isKind, type Kind, type Value } from '../../devices/index.ts';
import { unavailable } from '../../lib/errors.ts';
import { quoteInfluxIdent, quoteInfluxString } from '../../lib/quote.ts';
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
  type StoredReading,
} from '../types.ts';

interface Series {
  name: string;
  tags: Record<string, string>;
  columns: string[];
  values: unknown[][];
}

/** The tags by which every per-device aggregate is grouped. */
const BY_DEVICE = '"site", "gateway", "device"';

export class InfluxQueries {
  readonly #ql: InfluxQLClient;
  readonly #db: string;

  constructor(o: { url: string; db: string; username?: string | undefined; password?: string | undefined }) {
    const u = new URL(o.url);
    this.#db = o.db;
    this.#ql = new InfluxQLClient({
      host: u.hostname,
      port: Number(u.port || (u.protocol === 'https:' ? 443 : 80)),
      protocol: u.protocol === 'https:' ? 'https' : 'http',
      database: o.db,
      ...(o.username !== undefined ? { username: o.username, password: o.password ?? '' } : {}),
    });
  }

  async #series(query: string): Promise<Series[]> {
    type Raw = { results?: { error?: string; series?: (Omit<Series, 'tags'> & { tags?: Record<string, string> })[] }[] };
    let raw: Raw;
    try {
      raw = (await this.#ql.queryRaw(query, { database: this.#db })) as Raw;
    } catch (err) {
      // node-influx's texts carry InfluxDB's answer: kept as the cause, for the log only.
      if (unreachable(err)) throw unavailable('the readings store (InfluxDB) is unreachable; try again shortly', err);
      throw new Error('InfluxQL query failed', { cause: err });
    }
    const result = raw.results?.[0];
    if (result?.error) throw new Error('InfluxQL query failed', { cause: new Error(result.error) });
    return (result?.series ?? []).map((x) => ({ ...x, tags: x.tags ?? {} }));
  }

  /** Every bucket of a one-value aggregate: its series, its start (epoch ms) and its value. */
  async #buckets(query: string): Promise<{ s: Series; t: number; x: number }[]> {
    return (await this.#series(query)).flatMap((s) => s.values.map((row) => ({ s, t: rfc3339ToMs(String(row[0])), x: Number(row[1]) })));
  }

  /** Readings matching `q`, oldest first (then by device and seq). */
  async readings(q: ReadingQuery = {}): Promise<StoredReading[]> {
    checkReadingQuery(q);
    const cond: string[] = [];
    const tag = (k: string, v: string | undefined) => v !== undefined && cond.push(`${quoteInfluxIdent(k)} = ${quoteInfluxString(v)}`);
    tag('site', q.site);
    tag('gateway', q.gateway);
    tag('device', q.device);
    if (q.from !== undefined) cond.push(`time >= ${Math.floor(q.from)}ms`);
    if (q.to !== undefined) cond.push(`time < ${Math.floor(q.to)}ms`);
    const from = q.kind ? quoteInfluxIdent(q.kind) : '/.*/';
    const limit = q.limit !== undefined ? ` LIMIT ${Math.max(0, Math.floor(q.limit))}` : '';
    const out: StoredReading[] = [];
    for (const s of await this.#series(`SELECT * FROM ${from}${cond.length ? ` WHERE ${cond.join(' AND ')}` : ''} GROUP BY *${limit}`)) {
      if (!isKind(s.name)) continue;
      const { site = '', gateway = '', device = '', ...extra } = s.tags;
      for (const row of s.values)
        out.push({ kind: s.name, site, gateway, device, ...rowValues(s.name, s.columns, row), tags: nonEmpty(extra) });
    }
    out.sort((a, b) => a.ts - b.ts || a.device.localeCompare(b.device) || a.seq - b.seq);
    return q.limit !== undefined ? out.slice(0, q.limit) : out;
  }

  /** Newest reading per device: last(seq) and last(battery), grouped by every tag, in InfluxDB. */
  async lastSeen(q: { since?: number | undefined } = {}): Promise<DeviceLast[]> {
    checkSince(q);
    const where = q.since !== undefined ? ` WHERE time >= ${Math.floor(q.since)}ms` : '';
    const out = new Map<string, DeviceLast>();
    for (const s of await this.#series(`SELECT last(seq) AS seq FROM /.*/${where} GROUP BY *`)) {
      if (!isKind(s.name)) continue;
      const { site = '', gateway = '', device = '', ...extra } = s.tags;
      const row = s.values[0];
      if (!row) continue;
      const ts = rfc3339ToMs(String(row[0]));
      const key = `${site}/${gateway}/${device}`;
      const prev = out.get(key);
      // A device re-attributed (home tag changed) has several series: keep the newest.
      if (!prev || prev.ts < ts) out.set(key, { site, gateway, device, kind: s.name, ts, seq: Number(row[1]), tags: nonEmpty(extra) });
    }
    const seen = new Map<string, number>();
    for (const s of await this.#series(`SELECT last(battery) AS battery FROM /.*/${where} GROUP BY site, gateway, device`)) {
      const row = s.values[0];
      if (!row) continue;
      const key = `${s.tags.site}/${s.tags.gateway}/${s.tags.device}`;
      const ts = rfc3339ToMs(String(row[0]));
      const d = out.get(key);
      if (d && (seen.get(key) ?? -1) < ts) {
        seen.set(key, ts);
        d.battery = Number(row[1]);
      }
    }
    return [...out.values()];
  }

  /**
   * Per device and local day, aggregated by InfluxDB: count/min/max of seq, slots covered (a
   * subquery counting non-empty slot buckets), hydration sums, night flushes and hours in bed
   * (hourly counts, folded here).
   */
  async deviceDays(q: DeviceDayQuery): Promise<DeviceDay[]> {
    checkDeviceDayQuery(q);
    const offMin = q.utcOffsetMin ?? 0;
    const from = localDayStart(q.from, offMin);
    const to = localDayStart(q.to - 1, offMin) + DAY_MS;
    // Bucket boundaries fall on local midnight: offset = -utcOffset, modulo the bucket.
    const every = (bucketMin: number) => `time(${bucketMin}m, ${((-offMin % bucketMin) + bucketMin) % bucketMin}m)`;
    const perDay = `GROUP BY ${every(1440)}, ${BY_DEVICE} fill(none)`;
    const perHour = `GROUP BY ${every(60)}, ${BY_DEVICE} fill(none)`;
    const siteCond = q.site !== undefined ? ` AND "site" = ${quoteInfluxString(q.site)}` : '';
    const where = `WHERE time >= ${from}ms AND time < ${to}ms${siteCond}`;
    const out = new Map<string, DeviceDay>();
    const dayOf = (kind: string, t: Record<string, string>, day: number) => out.get(`${t.site}/${t.gateway}/${t.device}/${kind}/${day}`);

    for (const s of await this.#series(`SELECT count(seq) AS n, min(seq) AS lo, max(seq) AS hi FROM /.*/ ${where} ${perDay}`)) {
      if (!isKind(s.name)) continue;
      for (const row of s.values) {
        const day = rfc3339ToMs(String(row[0]));
        const [n, lo, hi] = [Number(row[1]), Number(row[2]), Number(row[3])];
        const prev = dayOf(s.name, s.tags, day);
        if (prev) {
          prev.readings += n;
          prev.minSeq = Math.min(prev.minSeq, lo);
          prev.maxSeq = Math.max(prev.maxSeq, hi);
          continue;
        }
        const { site = '', gateway = '', device = '' } = s.tags;
        const d: DeviceDay = { site, gateway, device, kind: s.name, day, readings: n, minSeq: lo, maxSeq: hi, slots: 0 };
        out.set(`${site}/${gateway}/${device}/${s.name}/${day}`, d);
      }
    }
    // Slots: per kind, a subquery counting the non-empty buckets of the kind's slot length.
    for (const kind of KIND_NAMES) {
      const slotMin = reportingSlotMs(kind) / 60_000;
      const buckets = `SELECT count(seq) AS n FROM ${quoteInfluxIdent(kind)} ${where} GROUP BY ${every(slotMin)}, ${BY_DEVICE} fill(none)`;
      for (const { s, t, x } of await this.#buckets(`SELECT count(n) AS slots FROM (${buckets}) ${where} ${perDay}`)) {
        const d = dayOf(kind, s.tags, t);
        if (d) d.slots += x;
      }
    }
    for (const { s, t, x } of await this.#buckets(`SELECT sum(intake_ml) AS x FROM "hydration" ${where} ${perDay}`)) {
      const d = dayOf('hydration', s.tags, t);
      if (d) d.intakeMl = (d.intakeMl ?? 0) + x;
    }
    for (const { s, t, x } of await this.#buckets(`SELECT count(flush) AS x FROM "toilet" ${where} AND "flush" = true ${perHour}`)) {
      const h = Math.floor(((((t + offMin * 60_000) % DAY_MS) + DAY_MS) % DAY_MS) / 3_600_000);
      const d = dayOf('toilet', s.tags, localDayStart(t, offMin));
      if (d) d.nightFlushes = (d.nightFlushes ?? 0) + (h >= NIGHT_FROM_H || h < NIGHT_TO_H ? x : 0);
    }
    for (const d of out.values()) if (d.kind === 'toilet') d.nightFlushes ??= 0;
    // Time in bed: hours with at least one occupied report (the embedded store's rollup counts the same).
    for (const { s, t } of await this.#buckets(`SELECT count(occupied) AS x FROM "bed" ${where} AND "occupied" = true ${perHour}`)) {
      const d = dayOf('bed', s.tags, localDayStart(t, offMin));
      if (d) d.bedMs = (d.bedMs ?? 0) + 3_600_000;
    }
    return [...out.values()];
  }
}

/** No answer at all (refused, reset, timed out, every host marked down): the store is unreachable, not our query wrong. */
function unreachable(err: unknown): boolean {
  const e = err as { name?: string; code?: string; message?: string };
  if (e?.name === 'ServiceNotAvailableError' || /No host available|Request timed out/.test(String(e?.message))) return true;
  return typeof e?.code === 'string' && /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|EPIPE|EAI_AGAIN)$/.test(e.code);
}

/** One row of `SELECT *`: time, seq, the kind's value fields and the quality fields (nulls are absent fields). */
function rowValues(kind: Kind, columns: string[], row: unknown[]): Pick<StoredReading, 'seq' | 'ts' | 'v' | 'q'> {
  const vSpecs: Readonly<Record<string, unknown>> = KINDS[kind].fields;
  const v: Record<string, Value> = {};
  const q: Record<string, number> = {};
  let seq = 0;
  let ts = 0;
  columns.forEach((c, i) => {
    const val = row[i];
    if (c === 'time') ts = rfc3339ToMs(String(val));
    else if (c === 'seq') seq = Number(val);
    else if (val === null || val === undefined) return;
    else if (c in vSpecs) v[c] = val as Value;
    else if (c in QUALITY_FIELDS) q[c] = Number(val);
  });
  return { seq, ts, v, q };
}

/** Extra tags without the empty ones (a series without that tag reports it as ''). */
function nonEmpty(tags: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(tags).filter(([, x]) => x !== ''));
}

/** `2024-01-01T00:00:00.123456789Z` → epoch ms (floor), without losing the ms digits to float parsing. */
function rfc3339ToMs(s: string): number {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?Z$/.exec(s);
  if (!m) return Date.parse(s);
  const frac = (m[2] ?? '').padEnd(3, '0').slice(0, 3);
  return Date.parse(`${m[1]}Z`) + Number(frac);
}
