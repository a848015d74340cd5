// Readings into InfluxDB, through a durable spool on disk.
//
//   write(points) ─▶ spool (node:sqlite, WAL, synchronous=FULL; committed before anything is sent)
//                      │ writer: reads the spool in id order, up to batchSize lines a request,
//                      ▼ at most maxInFlight requests at once
//                 POST /write?db=…&precision=ns            (v1: InfluxDB 1.x, 2.x/3.x compat, VictoriaMetrics)
//                 POST /api/v2/write?org=…&bucket=…&precision=ns   (v2: 1.8+, 2.x, 3.x, VictoriaMetrics)
//                      │ 2xx → delete those rows, resolve the write() calls waiting on them
//                      │ network error / timeout / 5xx / 429 / 401 / 403 / 404 → retry the same
//                      │   request, exponential backoff with jitter, forever (it is on disk); no new
//                      │   requests start while one is failing
//                      │ 400 / 413 / 422 (bad data, "partial write") → bisect the request until the
//                      ▼   single bad points are known: those are dead-lettered with InfluxDB's text
//                 dead letters (class store_rejected), the rest stored
//
// While InfluxDB is down the spool grows on disk, not in memory; when it is back the writer drains
// at full speed; after a restart the spool is drained again (rewrites are idempotent, see
// line-protocol.ts). write() resolves only when its points are confirmed (or dead-lettered).
//
// Why plain fetch and not a client library on the write path: @influxdata/influxdb-client batches
// automatically and fire-and-forget (unbounded requests in flight, close() resolving before
// earlier batches landed, a 32k-line in-memory retry buffer that drops the oldest, 400s dropped
// unless hooked) — we need a confirmation per request to delete spooled rows, bisecting of
// partial writes, and our own bounded, durable retry. node-influx (`influx`) is used for what it
// is good at: InfluxQL queries (queryReadings) and admin.

import { join } from 'node:path';
import { InfluxDB as InfluxQL } from 'influx';
import { openSqlite, type DatabaseSync } from '../lib/sqlite.ts';
import type { Logger } from '../lib/log.ts';
import { silentLogger } from '../lib/log.ts';
import type { Config } from '../lib/config.ts';
import { KINDS, KIND_NAMES, QUALITY_FIELDS, isKind, type Kind, type Value } from '../devices/index.ts';
import { LineProtocolError, toLine } from './line-protocol.ts';
import type { DeadLetterStore } from './dead-letters.ts';
import {
  DAY_MS,
  NIGHT_FROM_H,
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
import { ingestMetrics } from './metrics.ts';

export interface InfluxStoreOptions {
  url: string;
  db: string;
  api: 'v1' | 'v2';
  org?: string | undefined;
  /** v2: API token. v1: `user:password` (sent as u/p parameters), or a bare token (sent as `Authorization: Token`). */
  token?: string | undefined;
  createDb?: boolean | undefined;
  batchSize?: number | undefined;
  maxInFlight?: number | undefined;
  /** Folder for the spool file (`influx-spool.sqlite`), normally the data dir; or a `.sqlite` path. */
  spoolDir: string;
  deadLetters: DeadLetterStore;
  log?: Logger | undefined;
  retryMinMs?: number | undefined;
  retryMaxMs?: number | undefined;
  requestTimeoutMs?: number | undefined;
}

/** Where a spooled line came from, for its dead letter if InfluxDB refuses it. */
type LineMeta = [site: string | null, gateway: string | null, batch: number | null, idx: number | null];

/**
 * One spool row: the lines of one write() call, committed together. Per-call rows rather than
 * per-point rows keep the spool off the hot path (one insert, one delete per few thousand
 * points instead of three SQLite operations per point).
 */
interface Chunk {
  id: number;
  lines: string[];
  meta: LineMeta[];
}

interface Ticket {
  remaining: number;
  rejected: WriteResult['rejected'];
  resolve: (r: WriteResult) => void;
  reject: (e: Error) => void;
}

type PostOutcome = { kind: 'ok' } | { kind: 'retry'; reason: string; status?: number } | { kind: 'bad'; status: number; text: string };

/** Spooled lines kept in memory for the writer; beyond this they are read back from disk. */
const MEMORY_LINES = 200_000;

class StoreClosedError extends Error {
  override name = 'StoreClosedError';
}

export class InfluxStore implements ReadingStore {
  readonly name = 'influx' as const;
  readonly spoolPath: string;
  readonly opts: InfluxStoreOptions;
  #db: DatabaseSync;
  #log: Logger;
  /** write() calls waiting for their chunk, by chunk id, with each line's index in the call. */
  #waiters = new Map<number, { ticket: Ticket; indexes: number[] }>();
  /** Chunks kept in memory so the writer need not read them back; bounded by MEMORY_LINES. */
  #cache = new Map<number, Chunk>();
  #cachedLines = 0;
  #cursor = 0;
  #inFlight = 0;
  #depth = 0;
  #failing = false;
  #closed = false;
  #started = false;
  #idle: (() => void)[] = [];
  #sleepers = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();
  #abort = new AbortController();
  #ql: InfluxQL;
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
      spoolDir: config.dataDir,
      deadLetters,
      log,
    });
  }

  constructor(opts: InfluxStoreOptions) {
    this.opts = opts;
    this.#log = opts.log ?? silentLogger;
    this.spoolPath = opts.spoolDir.endsWith('.sqlite') ? opts.spoolDir : join(opts.spoolDir, 'influx-spool.sqlite');
    this.#db = openSqlite(this.spoolPath);
    this.#db.exec(`CREATE TABLE IF NOT EXISTS spool (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      n INTEGER NOT NULL,
      lines TEXT NOT NULL,
      meta TEXT NOT NULL
    )`);
    this.#depth = Number((this.#db.prepare('SELECT coalesce(sum(n), 0) AS n FROM spool').get() as { n: number }).n);
    ingestMetrics.spoolDepth.set(this.#depth);
    const u = new URL(opts.url);
    const [username, password] = this.#userPass();
    this.#ql = new InfluxQL({
      host: u.hostname,
      port: Number(u.port || (u.protocol === 'https:' ? 443 : 80)),
      protocol: u.protocol === 'https:' ? 'https' : 'http',
      database: opts.db,
      ...(username !== undefined ? { username, password: password ?? '' } : {}),
    });
  }

  get batchSize(): number {
    return this.opts.batchSize ?? 5000;
  }

  get maxInFlight(): number {
    return this.opts.maxInFlight ?? 2;
  }

  #userPass(): [string | undefined, string | undefined] {
    const t = this.opts.token;
    if (this.opts.api === 'v1' && t && t.includes(':')) {
      const i = t.indexOf(':');
      return [t.slice(0, i), t.slice(i + 1)];
    }
    return [undefined, undefined];
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
    const params = new URLSearchParams({ q: `CREATE DATABASE ${quoteIdent(this.opts.db)}` });
    const [u, p] = this.#userPass();
    if (u !== undefined) params.set('u', u), params.set('p', p ?? '');
    const res = await fetch(`${this.opts.url}/query?${params}`, {
      method: 'POST',
      headers: this.#authHeaders(),
      signal: AbortSignal.timeout(this.opts.requestTimeoutMs ?? 30_000),
    });
    const text = await res.text();
    if (!res.ok || /"error"/.test(text)) throw new Error(`CREATE DATABASE ${this.opts.db}: HTTP ${res.status} ${text.slice(0, 300)}`);
    this.#dbCreated = true;
    this.#log.info({ db: this.opts.db }, 'InfluxDB database ready (created if missing)');
  }

  #authHeaders(): Record<string, string> {
    const t = this.opts.token;
    if (!t) return {};
    if (this.opts.api === 'v1' && t.includes(':')) return {};
    return { authorization: `Token ${t}` };
  }

  #writeUrl(): string {
    if (this.opts.api === 'v2') {
      const params = new URLSearchParams({ org: this.opts.org ?? '', bucket: this.opts.db, precision: 'ns' });
      return `${this.opts.url}/api/v2/write?${params}`;
    }
    const params = new URLSearchParams({ db: this.opts.db, precision: 'ns' });
    const [u, p] = this.#userPass();
    if (u !== undefined) params.set('u', u), params.set('p', p ?? '');
    return `${this.opts.url}/write?${params}`;
  }

  depth(): number {
    return this.#depth;
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
      const chunk: Chunk = { id: 0, lines: lines.map((l) => l.line), meta: lines.map((l) => [l.p.site, l.p.gateway, l.p.batch, l.p.idx]) };
      // One durable commit for the whole call: after it, the points survive a crash of ingest.
      chunk.id = Number(this.#insert.run(lines.length, chunk.lines.join('\n'), JSON.stringify(chunk.meta)).lastInsertRowid);
      this.#waiters.set(chunk.id, { ticket, indexes: lines.map((l) => l.index) });
      if (this.#cachedLines + lines.length <= MEMORY_LINES) {
        this.#cache.set(chunk.id, chunk);
        this.#cachedLines += lines.length;
      }
      this.#setDepth(this.#depth + lines.length);
      this.#kick();
    });
  }

  get #insert() {
    return (this.#insertStmt ??= this.#db.prepare('INSERT INTO spool (n, lines, meta) VALUES (?, ?, ?)'));
  }
  #insertStmt: ReturnType<DatabaseSync['prepare']> | undefined;

  /** The chunk from memory, or read back from the spool (left by an earlier run, or over the memory budget). */
  #chunk(id: number): Chunk | null {
    const cached = this.#cache.get(id);
    if (cached) return cached;
    const row = this.#db.prepare('SELECT id, lines, meta FROM spool WHERE id = ?').get(id) as
      | { id: number; lines: string; meta: string }
      | undefined;
    return row ? { id: row.id, lines: row.lines.split('\n'), meta: JSON.parse(row.meta) as LineMeta[] } : null;
  }

  #setDepth(n: number): void {
    this.#depth = n;
    ingestMetrics.spoolDepth.set(n);
  }

  /** Starts requests while there is spooled work, slots free and InfluxDB is not failing. */
  #kick(): void {
    if (!this.#started || this.#closed) return;
    const next = this.#db.prepare('SELECT id, n FROM spool WHERE id > ? ORDER BY id LIMIT 256');
    while (this.#inFlight < this.maxInFlight && !(this.#failing && this.#inFlight > 0)) {
      // Consecutive chunks up to batchSize lines make one request (at least one chunk).
      const chunks: Chunk[] = [];
      let size = 0;
      for (const { id, n } of next.all(this.#cursor) as { id: number; n: number }[]) {
        if (chunks.length > 0 && size + n > this.batchSize) break;
        const chunk = this.#chunk(id);
        if (!chunk) break;
        chunks.push(chunk);
        size += n;
      }
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
    const outcome = await this.#send(items.map((x) => x.line).join('\n'));
    const failed: { chunk: Chunk; i: number; reason: string }[] = [];
    if (outcome !== 'ok') await this.#bisect(items, outcome, failed);
    this.#settle(chunks, failed);
  }

  /**
   * Bad data. InfluxDB 1.x writes the good points of a "partial write" and names only the first
   * bad one; bisecting finds every bad point and rewrites the good ones (idempotent).
   */
  async #bisect(
    items: { chunk: Chunk; i: number; line: string }[],
    bad: { status: number; text: string },
    failed: { chunk: Chunk; i: number; reason: string }[],
  ): Promise<void> {
    if (items.length === 1) {
      failed.push({ chunk: items[0]!.chunk, i: items[0]!.i, reason: `InfluxDB refused the point (HTTP ${bad.status}): ${bad.text}` });
      return;
    }
    const mid = items.length >> 1;
    for (const half of [items.slice(0, mid), items.slice(mid)]) {
      const outcome = await this.#send(half.map((x) => x.line).join('\n'));
      if (outcome !== 'ok') await this.#bisect(half, outcome, failed);
    }
  }

  /** One request, retried with backoff until InfluxDB answers it: 'ok', or the bad-data answer. */
  async #send(body: string): Promise<'ok' | { status: number; text: string }> {
    let attempt = 0;
    for (;;) {
      if (this.#closed) throw new StoreClosedError('closed');
      const started = performance.now();
      const outcome = await this.#post(body);
      if (outcome.kind === 'ok') {
        ingestMetrics.storeWriteSeconds.observe({ store: 'influx' }, (performance.now() - started) / 1000);
        if (this.#failing)
          this.#log.info({ attempts: attempt + 1, depth: this.#depth }, 'InfluxDB accepts writes again; draining the spool');
        this.#failing = false;
        return 'ok';
      }
      if (outcome.kind === 'bad') return { status: outcome.status, text: outcome.text };
      if (outcome.status === 404 && this.opts.createDb && this.opts.api === 'v1') {
        await this.#createDatabase().catch(() => undefined);
      }
      const delay = backoff(attempt++, this.opts.retryMinMs ?? 100, this.opts.retryMaxMs ?? 5000);
      const level = attempt === 1 || attempt % 20 === 0 ? 'warn' : 'debug';
      this.#log[level](
        { reason: outcome.reason, attempt, delayMs: Math.round(delay), depth: this.#depth },
        'InfluxDB write failed; retrying (readings stay in the spool)',
      );
      this.#failing = true;
      await this.#sleep(delay);
    }
  }

  async #post(body: string): Promise<PostOutcome> {
    let res: Response;
    try {
      res = await fetch(this.#writeUrl(), {
        method: 'POST',
        headers: { 'content-type': 'text/plain; charset=utf-8', ...this.#authHeaders() },
        body,
        signal: AbortSignal.any([this.#abort.signal, AbortSignal.timeout(this.opts.requestTimeoutMs ?? 30_000)]),
      });
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      return { kind: 'retry', reason: `${e.name}: ${e.cause?.code ?? e.message}` };
    }
    const text = res.status === 204 ? '' : await res.text().catch(() => '');
    if (res.status >= 200 && res.status < 300) return { kind: 'ok' };
    if (res.status === 400 || res.status === 413 || res.status === 422) return { kind: 'bad', status: res.status, text: errorText(text) };
    return { kind: 'retry', reason: `HTTP ${res.status}: ${errorText(text)}`, status: res.status };
  }

  /** Chunks confirmed, minus the points refused for good: dead letters first, then delete from the spool, then wake the writers. */
  #settle(chunks: Chunk[], failed: { chunk: Chunk; i: number; reason: string }[]): void {
    if (failed.length > 0) {
      this.opts.deadLetters.add(
        failed.map(({ chunk, i, reason }) => {
          const [site, gateway, batch, index] = chunk.meta[i]!;
          return { site, gateway, batch, index, class: 'store_rejected' as const, reason, raw: chunk.lines[i]! };
        }),
      );
      ingestMetrics.deadLetters.inc({ reason: 'store_rejected' }, failed.length);
      const [site, gateway, batch] = failed[0]!.chunk.meta[failed[0]!.i]!;
      this.#log.warn({ site, gateway, batch, refused: failed.length, reason: failed[0]!.reason }, 'InfluxDB refused points; dead-lettered');
    }
    // The chunks of one request are a contiguous id range of the spool (read in order, deleted only here).
    this.#db.prepare('DELETE FROM spool WHERE id BETWEEN ? AND ?').run(chunks[0]!.id, chunks[chunks.length - 1]!.id);
    let settled = 0;
    for (const chunk of chunks) {
      settled += chunk.lines.length;
      if (this.#cache.delete(chunk.id)) this.#cachedLines -= chunk.lines.length;
      const w = this.#waiters.get(chunk.id);
      if (!w) continue; // spooled by an earlier run: nobody waits, the gateway resends and is acked then
      this.#waiters.delete(chunk.id);
      for (const f of failed) if (f.chunk === chunk) w.ticket.rejected.push({ index: w.indexes[f.i]!, reason: f.reason });
      w.ticket.remaining -= chunk.lines.length;
      if (w.ticket.remaining <= 0) w.ticket.resolve({ rejected: w.ticket.rejected });
    }
    this.#setDepth(Math.max(0, this.#depth - settled));
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const s = { timer: setTimeout(() => (this.#sleepers.delete(s), resolve()), ms), resolve };
      this.#sleepers.add(s);
    });
  }

  /** Resolves when nothing is spooled (for tests and tools). */
  async drained(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.#depth > 0) {
      if (Date.now() > deadline) throw new Error(`spool not drained after ${timeoutMs} ms (${this.#depth} points left)`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Stops writing; what is not confirmed stays in the spool for the next start. Pending write() calls reject. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#abort.abort();
    for (const s of this.#sleepers) clearTimeout(s.timer), s.resolve();
    this.#sleepers.clear();
    if (this.#inFlight > 0) await new Promise<void>((r) => this.#idle.push(r));
    const err = new StoreClosedError('InfluxStore closed before the points were confirmed; they stay in the spool');
    const tickets = new Set([...this.#waiters.values()].map((w) => w.ticket));
    this.#waiters.clear();
    for (const t of tickets) t.reject(err);
    if (this.#db.isOpen) this.#db.close();
  }

  /** Reads readings back with InfluxQL (v1 /query; InfluxDB 2.x answers it with a DBRP mapping). For tests and tools. */
  async queryReadings(q: ReadingQuery = {}): Promise<StoredReading[]> {
    const cond: string[] = [];
    const tag = (k: string, v: string | undefined) =>
      v !== undefined && cond.push(`${quoteIdent(k)} = '${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`);
    tag('site', q.site);
    tag('gateway', q.gateway);
    tag('device', q.device);
    if (q.from !== undefined) cond.push(`time >= ${Math.floor(q.from)}ms`);
    if (q.to !== undefined) cond.push(`time < ${Math.floor(q.to)}ms`);
    const from = q.kind ? quoteIdent(q.kind) : '/.*/';
    const limit = q.limit !== undefined ? ` LIMIT ${Math.max(0, Math.floor(q.limit))}` : '';
    const query = `SELECT * FROM ${from}${cond.length ? ' WHERE ' + cond.join(' AND ') : ''} GROUP BY *${limit}`;
    const raw = (await this.#ql.queryRaw(query, { database: this.opts.db })) as {
      results?: { error?: string; series?: { name: string; tags?: Record<string, string>; columns: string[]; values: unknown[][] }[] }[];
    };
    const result = raw.results?.[0];
    if (result?.error) throw new Error(`InfluxQL: ${result.error}`);
    const out: StoredReading[] = [];
    for (const s of result?.series ?? []) {
      if (!isKind(s.name)) continue;
      const kind: Kind = s.name;
      const vSpecs: Readonly<Record<string, unknown>> = KINDS[kind].fields;
      const tags = { ...(s.tags ?? {}) };
      const { site = '', gateway = '', device = '', ...extra } = tags;
      for (const row of s.values) {
        const v: Record<string, Value> = {};
        const qual: Record<string, number> = {};
        let seq = 0;
        let ts = 0;
        s.columns.forEach((c, i) => {
          const val = row[i];
          if (c === 'time') ts = rfc3339ToMs(String(val));
          else if (c === 'seq') seq = Number(val);
          else if (val === null || val === undefined) return;
          else if (c in vSpecs) v[c] = val as Value;
          else if (c in QUALITY_FIELDS) qual[c] = Number(val);
        });
        out.push({
          kind,
          site,
          gateway,
          device,
          seq,
          ts,
          v,
          q: qual,
          tags: Object.fromEntries(Object.entries(extra).filter(([, x]) => x !== '')),
        });
      }
    }
    out.sort((a, b) => a.ts - b.ts || a.device.localeCompare(b.device) || a.seq - b.seq);
    return q.limit !== undefined ? out.slice(0, q.limit) : out;
  }

  async #series(query: string): Promise<{ name: string; tags: Record<string, string>; columns: string[]; values: unknown[][] }[]> {
    const raw = (await this.#ql.queryRaw(query, { database: this.opts.db })) as {
      results?: { error?: string; series?: { name: string; tags?: Record<string, string>; columns: string[]; values: unknown[][] }[] }[];
    };
    const result = raw.results?.[0];
    if (result?.error) throw new Error(`InfluxQL: ${result.error}`);
    return (result?.series ?? []).map((x) => ({ ...x, tags: x.tags ?? {} }));
  }

  /** Newest reading per device: last(seq) and last(battery), grouped by every tag, in InfluxDB. */
  async lastSeen(q: { since?: number | undefined } = {}): Promise<DeviceLast[]> {
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
      if (!prev || prev.ts < ts)
        out.set(key, {
          site,
          gateway,
          device,
          kind: s.name,
          ts,
          seq: Number(row[1]),
          tags: Object.fromEntries(Object.entries(extra).filter(([, x]) => x !== '')),
        });
    }
    const seen = new Map<string, number>();
    for (const s of await this.#series(`SELECT last(battery) AS battery FROM /.*/${where} GROUP BY site, gateway, device`)) {
      const row = s.values[0];
      if (!row) continue;
      const key = `${s.tags.site}/${s.tags.gateway}/${s.tags.device}`;
      const ts = rfc3339ToMs(String(row[0]));
      const d = out.get(key);
      if (d && (seen.get(key) ?? -1) < ts) seen.set(key, ts), (d.battery = Number(row[1]));
    }
    return [...out.values()];
  }

  /**
   * Per device and local day, aggregated by InfluxDB: count/min/max of seq, slots covered (a
   * subquery counting non-empty slot buckets), hydration sums, night flushes and hours in bed
   * (hourly counts, folded here).
   */
  async deviceDays(q: DeviceDayQuery): Promise<DeviceDay[]> {
    const offMin = q.utcOffsetMin ?? 0;
    const from = localDayStart(q.from, offMin);
    const to = localDayStart(q.to - 1, offMin) + DAY_MS;
    // Bucket boundaries fall on local midnight: offset = -utcOffset, modulo the bucket.
    const shift = (bucketMin: number) => `${((-offMin % bucketMin) + bucketMin) % bucketMin}m`;
    const siteCond = q.site !== undefined ? ` AND "site" = '${q.site.replace(/'/g, "\\'")}'` : '';
    const where = `WHERE time >= ${from}ms AND time < ${to}ms${siteCond}`;
    const out = new Map<string, DeviceDay>();
    const keyOf = (kind: string, t: Record<string, string>, day: number) => `${t.site}/${t.gateway}/${t.device}/${kind}/${day}`;
    for (const s of await this.#series(
      `SELECT count(seq) AS n, min(seq) AS lo, max(seq) AS hi FROM /.*/ ${where} GROUP BY time(1d, ${shift(1440)}), "site", "gateway", "device" fill(none)`,
    )) {
      if (!isKind(s.name)) continue;
      for (const row of s.values) {
        const day = rfc3339ToMs(String(row[0]));
        const key = keyOf(s.name, s.tags, day);
        const prev = out.get(key);
        const n = Number(row[1]),
          lo = Number(row[2]),
          hi = Number(row[3]);
        if (prev) (prev.readings += n), (prev.minSeq = Math.min(prev.minSeq, lo)), (prev.maxSeq = Math.max(prev.maxSeq, hi));
        else
          out.set(key, {
            site: s.tags.site ?? '',
            gateway: s.tags.gateway ?? '',
            device: s.tags.device ?? '',
            kind: s.name,
            day,
            readings: n,
            minSeq: lo,
            maxSeq: hi,
            slots: 0,
          });
      }
    }
    // Slots: one subquery per slot length (kinds grouped by it).
    const bySlot = new Map<number, Kind[]>();
    for (const k of KIND_NAMES) bySlot.set(reportingSlotMs(k), [...(bySlot.get(reportingSlotMs(k)) ?? []), k]);
    for (const [slotMs, kinds] of bySlot) {
      const slotMin = slotMs / 60_000;
      for (const kind of kinds) {
        const sql = `SELECT count(n) AS slots FROM (SELECT count(seq) AS n FROM ${quoteIdent(kind)} ${where} GROUP BY time(${slotMin}m, ${shift(slotMin)}), "site", "gateway", "device" fill(none)) ${where} GROUP BY time(1d, ${shift(1440)}), "site", "gateway", "device" fill(none)`;
        for (const s of await this.#series(sql)) {
          for (const row of s.values) {
            const d = out.get(keyOf(kind, s.tags, rfc3339ToMs(String(row[0]))));
            if (d) d.slots += Number(row[1]);
          }
        }
      }
    }
    for (const s of await this.#series(
      `SELECT sum(intake_ml) AS x FROM "hydration" ${where} GROUP BY time(1d, ${shift(1440)}), "site", "gateway", "device" fill(none)`,
    )) {
      for (const row of s.values) {
        const d = out.get(keyOf('hydration', s.tags, rfc3339ToMs(String(row[0]))));
        if (d) d.intakeMl = (d.intakeMl ?? 0) + Number(row[1]);
      }
    }
    for (const s of await this.#series(
      `SELECT count(flush) AS x FROM "toilet" ${where} AND "flush" = true GROUP BY time(1h, ${shift(60)}), "site", "gateway", "device" fill(none)`,
    )) {
      for (const row of s.values) {
        const t = rfc3339ToMs(String(row[0]));
        const h = Math.floor(((((t + offMin * 60_000) % DAY_MS) + DAY_MS) % DAY_MS) / 3_600_000);
        const d = out.get(keyOf('toilet', s.tags, localDayStart(t, offMin)));
        if (d) d.nightFlushes = (d.nightFlushes ?? 0) + (h >= NIGHT_FROM_H || h < NIGHT_TO_H ? Number(row[1]) : 0);
      }
    }
    for (const d of out.values()) if (d.kind === 'toilet') d.nightFlushes ??= 0;
    // Time in bed: hours with at least one occupied report (the embedded store's rollup counts the same).
    for (const s of await this.#series(
      `SELECT count(occupied) AS x FROM "bed" ${where} AND "occupied" = true GROUP BY time(1h, ${shift(60)}), "site", "gateway", "device" fill(none)`,
    )) {
      for (const row of s.values) {
        const d = out.get(keyOf('bed', s.tags, localDayStart(rfc3339ToMs(String(row[0])), offMin)));
        if (d) d.bedMs = (d.bedMs ?? 0) + 3_600_000;
      }
    }
    return [...out.values()];
  }

  /** Whether init() created (or found) the database. */
  get databaseReady(): boolean {
    return this.#dbCreated;
  }
}

function quoteIdent(s: string): string {
  return '"' + s.replace(/\\/g, '\\\\').replace(/"/g, '\\"') + '"';
}

/** Exponential backoff with full jitter between min and max. */
export function backoff(attempt: number, minMs: number, maxMs: number): number {
  const ceiling = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 20));
  return minMs / 2 + Math.random() * (ceiling - minMs / 2);
}

function errorText(text: string): string {
  try {
    const body = JSON.parse(text) as { error?: string; message?: string };
    return (body.error ?? body.message ?? text).slice(0, 2000);
  } catch {
    return text.slice(0, 2000);
  }
}

/** `2024-01-01T00:00:00.123456789Z` → epoch ms (floor), without losing the ms digits to float parsing. */
function rfc3339ToMs(s: string): number {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?Z$/.exec(s);
  if (!m) return Date.parse(s);
  const frac = (m[2] ?? '').padEnd(3, '0').slice(0, 3);
  return Date.parse(m[1] + 'Z') + Number(frac);
}
