// The gateway's outbox: every reading a gateway accepts waits here until the centre has acked the
// batch that carried it. This is the edge half of "no reading lost" (ingest/ is the other): a reading is given
// its per-device `seq` and stored in one transaction, so once `accept` returns it survives a
// crash or a power cut (SqliteOutbox: WAL + synchronous=FULL), and it leaves only through `ack`.
//
// Life of a reading: accept → unbatched → nextBatch numbers it into a batch (the batch's readings
// never change afterwards, so a resend is byte-for-byte the same set under the same number) →
// ack(batch) deletes exactly that batch. Batch numbers and per-device seqs are monotonic and
// never reused, across restarts and after deletes.
//
// The cap is loud: at `maxReadings` queued, `accept` throws OutboxFullError, the refusal is
// counted and `stats().capHit` turns true. Nothing already queued is ever evicted — the caller
// (the source) decides what to do with a reading the outbox refused, and the gateway's health
// reports it.

import { MAX_BATCH_BYTES, type Reading } from '../devices/contract.ts';
import type { StatementSync } from 'node:sqlite';
import { openSqlite, transaction, type DatabaseSync } from '../lib/sqlite.ts';

export interface OutboxStats {
  /** Readings queued (unbatched + in numbered, unacked batches). */
  depth: number;
  /** Readings not yet numbered into a batch. */
  unbatched: number;
  /** Numbered batches not yet acked. */
  inFlightBatches: number;
  /** Measurement time of the oldest queued reading (oldest by arrival), or null when empty. */
  oldestTs: number | null;
  /** The outbox is full: the next `accept` will be refused. */
  capHit: boolean;
  /** Readings refused because the outbox was full (since it was created; persisted by SqliteOutbox). */
  refused: number;
}

export interface Outbox {
  /** Assigns the device's next seq and queues the reading; durable when it returns. Throws OutboxFullError at the cap. */
  accept(r: Omit<Reading, 'seq'>): Reading;
  /** Queues readings that already carry their seq (replays); all or none. The device counters move past them. */
  addSequenced(readings: Reading[]): void;
  /** Numbers the oldest unbatched readings into a new batch; null when nothing is unbatched. Always at least one reading. */
  nextBatch(maxReadings: number, maxBytes?: number): { batch: number; readings: Reading[] } | null;
  /** The readings of a numbered, unacked batch (same as when it was numbered), or null if unknown/acked. */
  batch(n: number): Reading[] | null;
  /** Numbered batches not yet acked, ascending. */
  unackedBatches(): number[];
  /** Deletes exactly that batch; returns how many readings it held (0 for an unknown or already acked batch). */
  ack(batch: number): number;
  stats(): OutboxStats;
  close(): void;
}

export interface OutboxOptions {
  /** Most readings the outbox holds; `accept` throws OutboxFullError beyond. Default 1,000,000. */
  maxReadings?: number;
}

export const DEFAULT_MAX_READINGS = 1_000_000;
/** A single reading larger than this can never fit a batch (MAX_BATCH_BYTES less room for the envelope). */
export const MAX_READING_BYTES = MAX_BATCH_BYTES - 1024;

export class OutboxFullError extends Error {
  readonly depth: number;
  readonly maxReadings: number;
  constructor(depth: number, maxReadings: number, count = 1) {
    super(
      `outbox full: ${depth} of ${maxReadings} readings queued, refused ${count} new reading${count === 1 ? '' : 's'} (nothing was ` +
        `evicted)`,
    );
    this.name = 'OutboxFullError';
    this.depth = depth;
    this.maxReadings = maxReadings;
  }
}

function checkSeq(r: Reading): void {
  if (!Number.isSafeInteger(r.seq) || r.seq < 0)
    throw new RangeError(`seq of ${r.dev}: expected a non-negative integer, got ${String(r.seq)}`);
}

function serialise(r: Reading): string {
  const body = JSON.stringify(r);
  if (Buffer.byteLength(body) > MAX_READING_BYTES)
    throw new RangeError(`reading of ${r.dev} is ${Buffer.byteLength(body)} bytes, more than ${MAX_READING_BYTES}: it could never be sent`);
  return body;
}

/** Field order is fixed (dev, kind, seq, ts, v, q) so that a stored reading reads back identically. */
function sequenced(r: Omit<Reading, 'seq'>, seq: number): Reading {
  if (typeof r.dev !== 'string' || r.dev.length === 0) throw new TypeError('reading without a device id');
  const out: Reading = { dev: r.dev, kind: r.kind, seq, ts: r.ts, v: r.v };
  if (r.q !== undefined) out.q = r.q;
  return out;
}

// ── durable ────────────────────────────────────────────────────────────────────────────────────

/**
 * The outbox of a real gateway, in one SQLite file (its own tables; the file may be shared with
 * other gateway state). One process owns it at a time. Seqs start at 1 per device; batch numbers
 * start at 1 per outbox file.
 */
export class SqliteOutbox implements Outbox {
  readonly path: string;
  readonly maxReadings: number;
  private readonly db: DatabaseSync;
  private depth = 0;
  private unbatched = 0;
  /** batch number → readings in it, for the numbered, unacked batches. */
  private readonly batches = new Map<number, number>();
  private refused = 0;
  private closed = false;
  private readonly q: {
    getSeq: StatementSync;
    setSeq: StatementSync;
    insert: StatementSync;
    getMeta: StatementSync;
    setMeta: StatementSync;
    headUnbatched: StatementSync;
    numberUpTo: StatementSync;
    batchRows: StatementSync;
    deleteBatch: StatementSync;
    oldest: StatementSync;
  };

  constructor(path: string, opts: OutboxOptions = {}) {
    this.path = path;
    this.maxReadings = opts.maxReadings ?? DEFAULT_MAX_READINGS;
    if (!(this.maxReadings >= 1)) throw new RangeError(`maxReadings must be at least 1, got ${this.maxReadings}`);
    this.db = openSqlite(path);
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS outbox_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS outbox_seq (dev TEXT PRIMARY KEY, last INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS outbox_readings (
        id INTEGER PRIMARY KEY,
        dev TEXT NOT NULL,
        seq INTEGER NOT NULL,
        ts INTEGER NOT NULL,
        bytes INTEGER NOT NULL,
        body TEXT NOT NULL,
        batch INTEGER
      );
      CREATE INDEX IF NOT EXISTS outbox_readings_batch ON outbox_readings(batch);
    `);
    this.q = {
      getSeq: this.db.prepare('SELECT last FROM outbox_seq WHERE dev = ?'),
      setSeq: this.db.prepare(
        'INSERT INTO outbox_seq(dev, last) VALUES (?, ?) ON CONFLICT(dev) DO UPDATE SET last = excluded.last WHERE excluded.last > ' +
          'outbox_seq.last',
      ),
      insert: this.db.prepare('INSERT INTO outbox_readings(dev, seq, ts, bytes, body) VALUES (?, ?, ?, ?, ?)'),
      getMeta: this.db.prepare('SELECT value FROM outbox_meta WHERE key = ?'),
      setMeta: this.db.prepare('INSERT INTO outbox_meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value'),
      headUnbatched: this.db.prepare('SELECT id, bytes, body FROM outbox_readings WHERE batch IS NULL ORDER BY id LIMIT ?'),
      numberUpTo: this.db.prepare('UPDATE outbox_readings SET batch = ? WHERE batch IS NULL AND id <= ?'),
      batchRows: this.db.prepare('SELECT body FROM outbox_readings WHERE batch = ? ORDER BY id'),
      deleteBatch: this.db.prepare('DELETE FROM outbox_readings WHERE batch = ?'),
      oldest: this.db.prepare('SELECT ts FROM outbox_readings ORDER BY id LIMIT 1'),
    };
    for (const row of this.db.prepare('SELECT batch, count(*) AS n FROM outbox_readings GROUP BY batch').all() as {
      batch: number | null;
      n: number;
    }[]) {
      this.depth += row.n;
      if (row.batch === null) this.unbatched += row.n;
      else this.batches.set(row.batch, row.n);
    }
    this.refused = this.meta('refused');
  }

  private meta(key: string): number {
    const row = this.q.getMeta.get(key) as { value: number } | undefined;
    return row?.value ?? 0;
  }

  private refuse(count: number): never {
    this.refused += count;
    // Counted durably but outside any reading's transaction: a refusal must not be lost either.
    try {
      this.q.setMeta.run('refused', this.refused);
    } catch {
      // The refusal is still thrown and counted in memory.
    }
    throw new OutboxFullError(this.depth, this.maxReadings, count);
  }

  accept(r: Omit<Reading, 'seq'>): Reading {
    if (this.depth >= this.maxReadings) this.refuse(1);
    const reading = transaction(this.db, () => {
      const row = this.q.getSeq.get(r.dev) as { last: number } | undefined;
      const out = sequenced(r, (row?.last ?? 0) + 1);
      const body = serialise(out);
      this.q.setSeq.run(out.dev, out.seq);
      this.q.insert.run(out.dev, out.seq, out.ts, Buffer.byteLength(body), body);
      return out;
    });
    this.depth++;
    this.unbatched++;
    return reading;
  }

  addSequenced(readings: Reading[]): void {
    if (readings.length === 0) return;
    if (this.depth + readings.length > this.maxReadings) this.refuse(readings.length);
    const bodies = readings.map((r) => {
      checkSeq(r);
      return serialise(sequenced(r, r.seq));
    });
    transaction(this.db, () => {
      readings.forEach((r, i) => {
        const body = bodies[i]!;
        this.q.setSeq.run(r.dev, r.seq);
        this.q.insert.run(r.dev, r.seq, r.ts, Buffer.byteLength(body), body);
      });
    });
    this.depth += readings.length;
    this.unbatched += readings.length;
  }

  nextBatch(maxReadings: number, maxBytes = Infinity): { batch: number; readings: Reading[] } | null {
    if (this.unbatched === 0) return null;
    const limit = Math.max(1, Math.floor(maxReadings));
    return transaction(this.db, () => {
      const rows = this.q.headUnbatched.all(limit) as { id: number; bytes: number; body: string }[];
      if (rows.length === 0) return null;
      // A prefix of the oldest unbatched rows that fits maxBytes (as a JSON array); at least one.
      let bytes = 2;
      let take = 0;
      for (const row of rows) {
        const add = row.bytes + (take > 0 ? 1 : 0);
        if (take > 0 && bytes + add > maxBytes) break;
        bytes += add;
        take++;
      }
      const chosen = rows.slice(0, take);
      const batch = this.meta('next_batch') + 1;
      this.q.setMeta.run('next_batch', batch);
      this.q.numberUpTo.run(batch, chosen[chosen.length - 1]!.id);
      this.batches.set(batch, chosen.length);
      this.unbatched -= chosen.length;
      return { batch, readings: chosen.map((row) => JSON.parse(row.body) as Reading) };
    });
  }

  batch(n: number): Reading[] | null {
    if (!this.batches.has(n)) return null;
    const rows = this.q.batchRows.all(n) as { body: string }[];
    return rows.length === 0 ? null : rows.map((row) => JSON.parse(row.body) as Reading);
  }

  unackedBatches(): number[] {
    return [...this.batches.keys()].sort((a, b) => a - b);
  }

  ack(batch: number): number {
    if (!this.batches.has(batch)) return 0;
    const deleted = transaction(this.db, () => Number(this.q.deleteBatch.run(batch).changes));
    this.batches.delete(batch);
    this.depth -= deleted;
    return deleted;
  }

  /** The last seq given to each device (what the next accept continues from). */
  lastSeqs(): Map<string, number> {
    const rows = this.db.prepare('SELECT dev, last FROM outbox_seq').all() as { dev: string; last: number }[];
    return new Map(rows.map((r) => [r.dev, r.last]));
  }

  stats(): OutboxStats {
    const oldest = this.depth > 0 ? (this.q.oldest.get() as { ts: number } | undefined) : undefined;
    return {
      depth: this.depth,
      unbatched: this.unbatched,
      inFlightBatches: this.batches.size,
      oldestTs: oldest?.ts ?? null,
      capHit: this.depth >= this.maxReadings,
      refused: this.refused,
    };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }
}

// ── in memory ──────────────────────────────────────────────────────────────────────────────────

/**
 * Same behaviour without durability, for simulated gateways (thousands in one process) and
 * tests. A crash loses everything in it — which is exactly what a real gateway must not do.
 */
export class MemoryOutbox implements Outbox {
  readonly maxReadings: number;
  private readonly seqs = new Map<string, number>();
  /** Unbatched readings, oldest first, from `head` on. */
  private queue: Reading[] = [];
  private head = 0;
  private readonly batches = new Map<number, Reading[]>();
  private depth = 0;
  private lastBatch = 0;
  private refused = 0;

  constructor(opts: OutboxOptions = {}) {
    this.maxReadings = opts.maxReadings ?? DEFAULT_MAX_READINGS;
    if (!(this.maxReadings >= 1)) throw new RangeError(`maxReadings must be at least 1, got ${this.maxReadings}`);
  }

  private refuse(count: number): never {
    this.refused += count;
    throw new OutboxFullError(this.depth, this.maxReadings, count);
  }

  accept(r: Omit<Reading, 'seq'>): Reading {
    if (this.depth >= this.maxReadings) this.refuse(1);
    const out = sequenced(r, (this.seqs.get(r.dev) ?? 0) + 1);
    this.seqs.set(out.dev, out.seq);
    this.queue.push(out);
    this.depth++;
    return out;
  }

  addSequenced(readings: Reading[]): void {
    if (readings.length === 0) return;
    if (this.depth + readings.length > this.maxReadings) this.refuse(readings.length);
    const copies = readings.map((r) => {
      checkSeq(r);
      return sequenced(r, r.seq);
    });
    for (const r of copies) {
      if (r.seq > (this.seqs.get(r.dev) ?? 0)) this.seqs.set(r.dev, r.seq);
      this.queue.push(r);
    }
    this.depth += copies.length;
  }

  nextBatch(maxReadings: number, maxBytes = Infinity): { batch: number; readings: Reading[] } | null {
    const available = this.queue.length - this.head;
    if (available === 0) return null;
    const limit = Math.min(available, Math.max(1, Math.floor(maxReadings)));
    let take = limit;
    if (maxBytes !== Infinity) {
      let bytes = 2;
      take = 0;
      while (take < limit) {
        const add = Buffer.byteLength(JSON.stringify(this.queue[this.head + take])) + (take > 0 ? 1 : 0);
        if (take > 0 && bytes + add > maxBytes) break;
        bytes += add;
        take++;
      }
    }
    const readings = this.queue.slice(this.head, this.head + take);
    this.head += take;
    if (this.head > 4096 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    const batch = ++this.lastBatch;
    this.batches.set(batch, readings);
    return { batch, readings: readings.slice() };
  }

  batch(n: number): Reading[] | null {
    const readings = this.batches.get(n);
    return readings ? readings.slice() : null;
  }

  unackedBatches(): number[] {
    // Batches are created in increasing order and a Map keeps insertion order.
    return [...this.batches.keys()];
  }

  ack(batch: number): number {
    const readings = this.batches.get(batch);
    if (!readings) return 0;
    this.batches.delete(batch);
    this.depth -= readings.length;
    return readings.length;
  }

  /** The last seq given to each device. */
  lastSeqs(): Map<string, number> {
    return new Map(this.seqs);
  }

  stats(): OutboxStats {
    let oldestTs: number | null = null;
    const firstBatch = this.batches.values().next();
    if (!firstBatch.done) oldestTs = firstBatch.value[0]?.ts ?? null;
    else if (this.head < this.queue.length) oldestTs = this.queue[this.head]!.ts;
    return {
      depth: this.depth,
      unbatched: this.queue.length - this.head,
      inFlightBatches: this.batches.size,
      oldestTs,
      capHit: this.depth >= this.maxReadings,
      refused: this.refused,
    };
  }

  close(): void {
    this.queue = [];
    this.head = 0;
    this.batches.clear();
  }
}
