// What ingest hands a store, and what every store (InfluxDB, embedded SQLite) promises back.

import type { Kind, Quality, Reading, Value } from '../devices/index.ts';

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
  /** Points accepted by write() but not yet confirmed by the backing database (the spool). */
  depth(): number;
  close(): Promise<void>;
}
