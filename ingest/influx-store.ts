// Readings into InfluxDB, through a durable spool on disk.
//
//   write(points) ─▶ spool (influx/spool.ts: committed before anything is sent)
//                      │ drain loop (here): reads the spool in id order, up to batchSize lines a
//                      ▼ request, at most maxInFlight requests at once
//                 endpoint (influx/endpoint.ts: POST /write or /api/v2/write; it only sends)
//                      │ ok → delete those rows, resolve the write() calls waiting on them
//                      │ retry (network error / timeout / 5xx / 429 / 401 / 403 / 404) → the same
//                      │   request again, backoffDelayMs with jitter, forever (it is on disk); no
//                      │   new requests start while one is failing
//                      │ bad (400 / 413 / 422: bad data, "partial write") → bisect the request
//                      ▼   until the single bad points are known: those are dead-lettered
//                 dead letters (class store_rejected) with InfluxDB's text, the rest stored
//
// While InfluxDB is down the spool grows on disk, not in memory; when it is back the loop drains
// at full speed; after a restart the spool is drained again (rewrites are idempotent, see
// line-protocol.ts). write() resolves only when its points are confirmed (or dead-lettered).
// The read side (InfluxQL) is influx/queries.ts.
//
// Why plain fetch and not a client library on the write path: @influxdata/influxdb-client batches
// automatically and fire-and-forget (unbounded requests in flight, close() resolving before
// earlier batches landed, a 32k-line in-memory retry buffer that drops the oldest, 400s dropped
// unless hooked) — we need a confirmation per request to delete spooled rows, bisecting of
// partial writes, and our own bounded, durable retry. node-influx (`influx`) is used for what it
// is good at: InfluxQL queries.

import type { Logger } from '../lib/log.ts';
import { silentLogger } from '../lib/log.ts';
import type { Config } from '../lib/config.ts';
import { backoffDelayMs } from '../lib/retry.ts';
import { sleep } from '../lib/timeout.ts';
import { LineProtocolError, toLine } from './line-protocol.ts';
import type { DeadLetterStore } from './dead-letters.ts';
import type { DeviceDay, DeviceDayQuery, DeviceLast, ReadingQuery, ReadingStore, StorePoint, StoredReading, WriteResult } from './types.ts';
import { ingestMetrics } from './metrics.ts';
import { InfluxEndpoint, type InfluxEndpointOptions, type WriteOutcome } from './influx/endpoint.ts';
import { Spool, type Chunk } from './influx/spool.ts';
import { InfluxQueries } from './influx/queries.ts';

export interface InfluxStoreOptions extends InfluxEndpointOptions {
  createDb?: boolean | undefined;
  batchSize?: number | undefined;
  maxInFlight?: number | undefined;
  /** Folder for the spool file (`influx-spool.sqlite`), normally the data dir; or a `.sqlite` path. */
  spoolDir: string;
  deadLetters: DeadLetterStore;
  log?: Logger | undefined;
  retryMinMs?: number | undefined;
  retryMaxMs?: number | undefined;
  /** InfluxDB 1.x user granted READ only, for InfluxQL: a query can then never write or drop. */
  readUsername?: string | undefined;
  readPassword?: string | undefined;
}

interface Ticket {
  remaining: number;
  rejected: WriteResult['rejected'];
  resolve: (r: WriteResult) => void;
  reject: (e: Error) => void;
}

/** A spooled line on its way, by its chunk and its index in the chunk. */
interface Item {
  chunk: Chunk;
  i: number;
  line: string;
}

/** A line InfluxDB refused for good, and why. */
interface Refused {
  chunk: Chunk;
  i: number;
  reason: string;
}

class StoreClosedError extends Error {
  override name = 'StoreClosedError';
}

export class InfluxStore implements ReadingStore {
  readonly name = 'influx' as const;
  readonly spoolPath: string;
  readonly opts: InfluxStoreOptions;
  #spool: Spool;
  #endpoint: InfluxEndpoint;
  #queries: InfluxQueries;
  #log: Logger;
  /** write() calls waiting for their chunk, by chunk id, with each line's index in the call. */
  #waiters = new Map<number, { ticket: Ticket; indexes: number[] }>();
  #cursor = 0;
  #inFlight = 0;
  #failing = false;
  #closed = false;
  #started = false;
  #idle: (() => void)[] = [];
  #abort = new AbortController();
  #dbCreated = false;

  static fromConfig(config: Config, deadLetters: DeadLetterStore, log?: Logger): InfluxStore {
    return new InfluxStore({
      url: config.influxUrl,
      db: config.influxDb,
      api: config.influxApi === 'v2' ? 'v2' : 'v1',
      org: config.influxOrg,
      token: config.influxToken,
      createDb: config.influxCreateDb,
      batchSize: config.influxBatchSize,
      maxInFlight: config.influxMaxInFlight,
      readUsername: config.influxReadUsername || undefined,
      readPassword: config.influxReadPassword,
      spoolDir: config.dataDir,
      deadLetters,
      log,
    });
  }

  constructor(opts: InfluxStoreOptions) {
    this.opts = opts;
    this.#log = opts.log ?? silentLogger;
    this.#spool = new Spool(opts.spoolDir);
    this.spoolPath = this.#spool.path;
    this.#endpoint = new InfluxEndpoint(opts);
    const [writeUser, writePassword] = this.#endpoint.userPassword();
    const [username, password] = opts.readUsername ? [opts.readUsername, opts.readPassword ?? ''] : [writeUser, writePassword];
    this.#queries = new InfluxQueries({ url: opts.url, db: opts.db, username, password });
  }

  get batchSize(): number {
    return this.opts.batchSize ?? 5000;
  }

  get maxInFlight(): number {
    return this.opts.maxInFlight ?? 2;
  }

  /** Whether init() created (or found) the database. */
  get databaseReady(): boolean {
    return this.#dbCreated;
  }

  /** Creates the database when missing (v1, createDb), then starts draining the spool (left over from a previous run too). */
  async init(): Promise<void> {
    if (this.opts.createDb && this.opts.api === 'v1') {
      try {
        await this.#createDatabase();
      } catch (err) {
        // InfluxDB may be down at start: the spool takes the readings and the writer retries
        // (a 404 "database not found" triggers another CREATE attempt).
        this.#log.warn({ err: String(err) }, 'could not create the InfluxDB database at start; will retry while writing');
      }
    }
    this.#started = true;
    this.#kick();
  }

  async #createDatabase(): Promise<void> {
    await this.#endpoint.createDatabase();
    this.#dbCreated = true;
    this.#log.info({ db: this.opts.db }, 'InfluxDB database ready (created if missing)');
  }

  depth(): number {
    return this.#spool.depth;
  }

  write(points: StorePoint[]): Promise<WriteResult> {
    if (this.#closed) return Promise.reject(new StoreClosedError('InfluxStore is closed'));
    const rejected: WriteResult['rejected'] = [];
    const lines: { index: number; line: string; p: StorePoint }[] = [];
    const unwritable: { index: number; reason: string; p: StorePoint }[] = [];
    points.forEach((p, index) => {
      try {
        lines.push({ index, line: toLine(p.reading, { site: p.site, gateway: p.gateway, extra: p.tags }), p });
      } catch (err) {
        if (!(err instanceof LineProtocolError)) throw err;
        unwritable.push({ index, reason: `cannot be written as line protocol: ${err.message}`, p });
      }
    });
    if (unwritable.length) {
      this.opts.deadLetters.add(
        unwritable.map((u) => ({
          site: u.p.site,
          gateway: u.p.gateway,
          batch: u.p.batch,
          index: u.p.idx,
          class: 'store_rejected' as const,
          reason: u.reason,
          raw: JSON.stringify(u.p.reading),
        })),
      );
      ingestMetrics.deadLetters.inc({ reason: 'store_rejected' }, unwritable.length);
      for (const u of unwritable) rejected.push({ index: u.index, reason: u.reason });
    }
    if (lines.length === 0) return Promise.resolve({ rejected });
    return new Promise<WriteResult>((resolve, reject) => {
      const ticket: Ticket = { remaining: lines.length, rejected, resolve, reject };
      const chunk = this.#spool.append(
        lines.map((l) => l.line),
        lines.map((l) => [l.p.site, l.p.gateway, l.p.batch, l.p.idx]),
      );
      this.#waiters.set(chunk.id, { ticket, indexes: lines.map((l) => l.index) });
      this.#kick();
    });
  }

  /** Starts requests while there is spooled work, slots free and InfluxDB is not failing. */
  #kick(): void {
    if (!this.#started || this.#closed) return;
    while (this.#inFlight < this.maxInFlight && !(this.#failing && this.#inFlight > 0)) {
      // Consecutive chunks up to batchSize lines make one request (at least one chunk).
      const chunks = this.#spool.chunksAfter(this.#cursor, this.batchSize);
      if (chunks.length === 0) break;
      this.#cursor = chunks[chunks.length - 1]!.id;
      this.#inFlight++;
      this.#deliver(chunks)
        .catch((err) => {
          if (!(err instanceof StoreClosedError)) this.#log.error({ err: String(err) }, 'spool writer failed');
        })
        .finally(() => {
          this.#inFlight--;
          if (this.#inFlight === 0) for (const f of this.#idle.splice(0)) f();
          this.#kick();
        });
    }
  }

  /** Delivers consecutive chunks in one request: confirmed, or bisected down to the bad points. */
  async #deliver(chunks: Chunk[]): Promise<void> {
    const items = chunks.flatMap((chunk) => chunk.lines.map((line, i) => ({ chunk, i, line })));
    const refused: Refused[] = [];
    await this.#sendOrBisect(items, refused);
    this.#settle(chunks, refused);
  }

  /**
   * Sends the items; on bad data, bisects. InfluxDB 1.x writes the good points of a "partial
   * write" and names only the first bad one; bisecting finds every bad point and rewrites the
   * good ones (idempotent).
   */
  async #sendOrBisect(items: Item[], refused: Refused[]): Promise<void> {
    const outcome = await this.#send(items.map((x) => x.line).join('\n'));
    if (outcome.kind === 'ok') return;
    if (items.length === 1) {
      const reason = `InfluxDB refused the point (HTTP ${outcome.status}): ${outcome.text}`;
      refused.push({ chunk: items[0]!.chunk, i: items[0]!.i, reason });
      return;
    }
    const mid = items.length >> 1;
    await this.#sendOrBisect(items.slice(0, mid), refused);
    await this.#sendOrBisect(items.slice(mid), refused);
  }

  /** One request, retried with backoff until InfluxDB answers it: ok, or bad data. */
  async #send(body: string): Promise<Exclude<WriteOutcome, { kind: 'retry' }>> {
    let attempt = 0;
    for (;;) {
      if (this.#closed) throw new StoreClosedError('closed');
      const started = performance.now();
      const outcome = await this.#endpoint.write(body, this.#abort.signal);
      if (outcome.kind === 'ok') {
        ingestMetrics.storeWriteSeconds.observe({ store: 'influx' }, (performance.now() - started) / 1000);
        if (this.#failing)
          this.#log.info({ attempts: attempt + 1, depth: this.depth() }, 'InfluxDB accepts writes again; draining the spool');
        this.#failing = false;
        return outcome;
      }
      if (outcome.kind === 'bad') return outcome;
      if (outcome.status === 404 && this.opts.createDb && this.opts.api === 'v1') {
        await this.#createDatabase().catch(() => undefined);
      }
      const delay = backoffDelayMs(attempt++, { minMs: this.opts.retryMinMs ?? 100, maxMs: this.opts.retryMaxMs ?? 5000 });
      const level = attempt === 1 || attempt % 20 === 0 ? 'warn' : 'debug';
      this.#log[level](
        { reason: outcome.reason, attempt, delayMs: Math.round(delay), depth: this.depth() },
        'InfluxDB write failed; retrying (readings stay in the spool)',
      );
      this.#failing = true;
      await sleep(delay, this.#abort.signal);
    }
  }

  /** Chunks confirmed, minus the points refused for good: dead letters first, then delete from the spool, then wake the writers. */
  #settle(chunks: Chunk[], refused: Refused[]): void {
    if (refused.length > 0) {
      this.opts.deadLetters.add(
        refused.map(({ chunk, i, reason }) => {
          const [site, gateway, batch, index] = chunk.meta[i]!;
          return { site, gateway, batch, index, class: 'store_rejected' as const, reason, raw: chunk.lines[i]! };
        }),
      );
      ingestMetrics.deadLetters.inc({ reason: 'store_rejected' }, refused.length);
      const [site, gateway, batch] = refused[0]!.chunk.meta[refused[0]!.i]!;
      this.#log.warn(
        { site, gateway, batch, refused: refused.length, reason: refused[0]!.reason },
        'InfluxDB refused points; dead-lettered',
      );
    }
    this.#spool.remove(chunks);
    for (const chunk of chunks) {
      const w = this.#waiters.get(chunk.id);
      if (!w) continue; // spooled by an earlier run: nobody waits, the gateway resends and is acked then
      this.#waiters.delete(chunk.id);
      for (const f of refused) if (f.chunk === chunk) w.ticket.rejected.push({ index: w.indexes[f.i]!, reason: f.reason });
      w.ticket.remaining -= chunk.lines.length;
      if (w.ticket.remaining <= 0) w.ticket.resolve({ rejected: w.ticket.rejected });
    }
  }

  /** Resolves when nothing is spooled (for tests and tools). */
  async drained(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.depth() > 0) {
      if (Date.now() > deadline) throw new Error(`spool not drained after ${timeoutMs} ms (${this.depth()} points left)`);
      await sleep(20);
    }
  }

  /** Stops writing; what is not confirmed stays in the spool for the next start. Pending write() calls reject. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#abort.abort();
    if (this.#inFlight > 0) await new Promise<void>((r) => this.#idle.push(r));
    const err = new StoreClosedError('InfluxStore closed before the points were confirmed; they stay in the spool');
    const tickets = new Set([...this.#waiters.values()].map((w) => w.ticket));
    this.#waiters.clear();
    for (const t of tickets) t.reject(err);
    this.#spool.close();
  }

  /** GET /ping (v1 and v2 answer it without credentials): whether InfluxDB is reachable now. */
  async probe(timeoutMs: number): Promise<void> {
    const res = await fetch(`${this.opts.url}/ping`, { signal: AbortSignal.timeout(timeoutMs) }).catch((err: unknown) => {
      const e = err as Error & { cause?: { code?: string } };
      throw new Error(`InfluxDB at ${new URL(this.opts.url).host} unreachable: ${e.cause?.code ?? e.name}`);
    });
    await res.arrayBuffer().catch(() => undefined);
    if (res.status >= 300) throw new Error(`InfluxDB /ping answered HTTP ${res.status}`);
  }

  /** Reads readings back with InfluxQL. For tests and tools. */
  queryReadings(q: ReadingQuery = {}): Promise<StoredReading[]> {
    return this.#queries.readings(q);
  }

  /** Newest reading per device: last(seq) and last(battery), grouped by every tag, in InfluxDB. */
  lastSeen(q: { since?: number | undefined } = {}): Promise<DeviceLast[]> {
    return this.#queries.lastSeen(q);
  }

  /** Per device and local day, aggregated by InfluxDB (see InfluxQueries.deviceDays). */
  deviceDays(q: DeviceDayQuery): Promise<DeviceDay[]> {
    return this.#queries.deviceDays(q);
  }
}
