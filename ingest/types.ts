// What ingest hands a store, and what every store (InfluxDB, embedded SQLite) promises back.

import { DEVICE_ID_PATTERN, KINDS, isKind, type Kind, type Quality, type Reading, type Value } from '../devices/index.ts';
import { badRequest } from '../lib/errors.ts';
import { SLUG_PATTERN } from '../lib/ids.ts';

/** One accepted reading on its way to the store, with where it came from. */
export interface StorePoint {
  site: string;
  gateway: string;
  /** Batch number and index in that batch, for dead letters if the store refuses the point. */
  batch: number;
  idx: number;
  reading: Reading;
  /** Extra tags from the enrich hook (home, participant pseudonym… later). */
  tags?: Record<string, string> | undefined;
}

export interface WriteResult {
  /** Points the store refused for good, by index into the `points` given to write(); already dead-lettered by the store. */
  rejected: { index: number; reason: string }[];
}

export interface ReadingQuery {
  site?: string | undefined;
  gateway?: string | undefined;
  device?: string | undefined;
  kind?: Kind | undefined;
  /** Inclusive, epoch ms. */
  from?: number | undefined;
  /** Exclusive, epoch ms. */
  to?: number | undefined;
  limit?: number | undefined;
}

export interface StoredReading {
  kind: Kind;
  site: string;
  gateway: string;
  device: string;
  seq: number;
  ts: number;
  v: Record<string, Value>;
  q: Quality;
  /** Extra tags, if any. */
  tags: Record<string, string>;
}

export interface ReadingStore {
  readonly name: 'influx' | 'sqlite';
  /** Creates what is missing (database, tables) and starts background work (the spool writer). */
  init(): Promise<void>;
  /**
   * Resolves once every point is durably stored (confirmed by the store) or refused for good
   * (then it is in the dead letters and listed in `rejected`). Rewriting a point is idempotent.
   */
  write(points: StorePoint[]): Promise<WriteResult>;
  queryReadings(q?: ReadingQuery): Promise<StoredReading[]>;
  /** The newest reading of every device measured in [since, now) (monitoring seeds last-seen from it). Aggregated in the store. */
  lastSeen(q?: { since?: number | undefined }): Promise<DeviceLast[]>;
  /** Per device and local day: counts, seq range, reporting slots covered, and the outcome sums. Aggregated in the store. */
  deviceDays(q: DeviceDayQuery): Promise<DeviceDay[]>;
  /** Points accepted by write() but not yet confirmed by the backing database (the spool). */
  depth(): number;
  /** Resolves when the backing database answers a cheap request within `timeoutMs`; rejects saying why otherwise (/health). */
  probe(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

// ── aggregates for monitoring (completeness, loss accounting, outcomes) ──────────────────────

/** A device's newest reading: when it was measured, its seq and the last battery it reported. */
export interface DeviceLast {
  site: string;
  gateway: string;
  device: string;
  kind: Kind;
  ts: number;
  seq: number;
  battery?: number | undefined;
  tags: Record<string, string>;
}

export interface DeviceDayQuery {
  /** Inclusive / exclusive, epoch ms; rounded out to whole local days. */
  from: number;
  to: number;
  site?: string | undefined;
  /** Local day = UTC day shifted by this many minutes (whole hours; Nordic winter time: 60). */
  utcOffsetMin?: number | undefined;
}

/** One device on one local day. */
export interface DeviceDay {
  site: string;
  gateway: string;
  device: string;
  kind: Kind;
  /** Start of the local day, epoch ms. */
  day: number;
  /** Distinct readings measured that day. */
  readings: number;
  minSeq: number;
  maxSeq: number;
  /** Reporting slots (see reportingSlotMs) with at least one reading. */
  slots: number;
  /** hydration: ml drunk. */
  intakeMl?: number | undefined;
  /** toilet: flushes between 22:00 and 07:00 local. */
  nightFlushes?: number | undefined;
  /** bed: time in bed, as whole hours with at least one occupied report (ms). */
  bedMs?: number | undefined;
}

// ── what a query may carry ─────────────────────────────────────────────────────────────────────
// Every store checks its query here before building query text: each value against its own
// pattern (site and gateway ids are slugs, device ids the contract's, kinds the catalogue's),
// times and limits as finite numbers. Quoting (lib/quote.ts) stays as the second line; this
// refuses what can never be stored, so nothing odd reaches InfluxQL or SQL at all.

const slug = (what: string, v: string | undefined) => {
  if (v !== undefined && (typeof v !== 'string' || !SLUG_PATTERN.test(v)))
    throw badRequest(`${what}: expected lowercase letters, digits and dashes (1–63, starting with a letter or digit)`, 'invalid_query');
};
const epochMs = (what: string, v: number | undefined) => {
  if (v !== undefined && !(typeof v === 'number' && Number.isFinite(v) && Math.abs(v) <= 8.64e15))
    throw badRequest(`${what}: expected a time in epoch milliseconds`, 'invalid_query');
};

/** The query, when every value matches its pattern; ApiError 400 (code invalid_query) otherwise. */
export function checkReadingQuery(q: ReadingQuery): ReadingQuery {
  slug('site', q.site);
  slug('gateway', q.gateway);
  if (q.device !== undefined && (typeof q.device !== 'string' || !DEVICE_ID_PATTERN.test(q.device)))
    throw badRequest(`device: expected an id matching ${DEVICE_ID_PATTERN}`, 'invalid_query');
  if (q.kind !== undefined && !isKind(q.kind)) throw badRequest('kind: not a kind of the device catalogue', 'invalid_query');
  epochMs('from', q.from);
  epochMs('to', q.to);
  if (q.limit !== undefined && !(Number.isSafeInteger(q.limit) && q.limit >= 0))
    throw badRequest('limit: expected a whole number ≥ 0', 'invalid_query');
  return q;
}

export function checkDeviceDayQuery(q: DeviceDayQuery): DeviceDayQuery {
  slug('site', q.site);
  epochMs('from', q.from);
  epochMs('to', q.to);
  if (q.utcOffsetMin !== undefined && !(Number.isInteger(q.utcOffsetMin) && Math.abs(q.utcOffsetMin) <= 24 * 60))
    throw badRequest('utcOffsetMin: expected whole minutes within a day', 'invalid_query');
  return q;
}

export function checkSince(q: { since?: number | undefined }): { since?: number | undefined } {
  epochMs('since', q.since);
  return q;
}

const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;
/** Night for toilet visits: local hours [22, 24) and [0, 7). */
export const NIGHT_FROM_H = 22;
export const NIGHT_TO_H = 7;

/**
 * A kind's reporting slot: its reporting interval (periodic heartbeat, or the status report of
 * event devices), but at least an hour. A slot with no reading is a gap; completeness counts slots.
 */
export function reportingSlotMs(kind: Kind): number {
  const r = KINDS[kind].reporting;
  return Math.max(HOUR_MS, (r.mode === 'heartbeat' ? r.intervalS : r.heartbeatS) * 1000);
}

/** Start of the local day containing `ts`. */
export function localDayStart(ts: number, utcOffsetMin = 0): number {
  const off = utcOffsetMin * 60_000;
  return Math.floor((ts + off) / DAY_MS) * DAY_MS - off;
}
