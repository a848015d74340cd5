// One SQL layer over the embedded database (node:sqlite, a file in the data dir) and PostgreSQL
// (`pg`, TESTBED_DATABASE_URL). The registry writes one set of queries for both:
//
// * placeholders are `?` everywhere; the PostgreSQL adapter rewrites them to $1, $2, …
// * timestamps are epoch milliseconds in BIGINT columns (INTEGER affinity in SQLite), booleans
//   are never stored (a nullable timestamp says more: revoked_at, withdrawn_at)
// * `RETURNING` and `ON CONFLICT` are used as both dialects support them (SQLite ≥ 3.35)
// * transactions are `tx(fn)`: the callback gets a handle bound to the transaction. On SQLite
//   the one connection is shared by every caller, so the adapter serialises transactions (and
//   statements outside them) with an async lock, shared by every connection of this process to
//   the same file; on PostgreSQL a transaction holds a pooled client.
// * a read-modify-write that must not interleave with another (consent and withdrawal) reads its
//   row with `forUpdate(q)`: a row lock on PostgreSQL; SQLite's transactions are already serial.
// * constraint errors of either database come back as DbConstraintError with a portable kind.

import pg from 'pg';
import { join, resolve } from 'node:path';
import { openSqlite, type DatabaseSync } from '../lib/sqlite.ts';
import { unavailable } from '../lib/errors.ts';

export type Dialect = 'sqlite' | 'postgres';
export type Param = string | number | null;
export type Row = Record<string, unknown>;

export interface Queryable {
  readonly dialect: Dialect;
  all<T = Row>(sql: string, params?: Param[]): Promise<T[]>;
  get<T = Row>(sql: string, params?: Param[]): Promise<T | undefined>;
  /** Runs a statement; resolves with the number of rows it changed. */
  run(sql: string, params?: Param[]): Promise<number>;
  /** Runs several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
}

export interface Database extends Queryable {
  /** Where the data lives, for logs (a file path, or the URL without its password). */
  readonly where: string;
  tx<T>(fn: (q: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export type ConstraintKind = 'unique' | 'foreign_key' | 'check' | 'not_null' | 'exclusion' | 'refused';

/** A constraint of the database refused a write (the registry checks first; this is the backstop). */
export class DbConstraintError extends Error {
  override name = 'DbConstraintError';
  readonly kind: ConstraintKind;
  constructor(kind: ConstraintKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.kind = kind;
  }
}

function translateSqlite(err: unknown): unknown {
  const e = err as { code?: string; errcode?: number; message?: string };
  if (e?.code !== 'ERR_SQLITE_ERROR' || typeof e.errcode !== 'number') return err;
  const msg = e.message ?? '';
  // Extended result codes: SQLITE_CONSTRAINT (19) family; RAISE(ABORT) in a trigger is 1811 or 19.
  if (e.errcode === 2067 || e.errcode === 1555) return new DbConstraintError('unique', msg, { cause: err });
  if (e.errcode === 787) return new DbConstraintError('foreign_key', msg, { cause: err });
  if (e.errcode === 275) return new DbConstraintError('check', msg, { cause: err });
  if (e.errcode === 1299) return new DbConstraintError('not_null', msg, { cause: err });
  if (e.errcode === 1811 || (e.errcode & 0xff) === 19) return new DbConstraintError('refused', msg, { cause: err });
  return err;
}

function translatePg(err: unknown): unknown {
  const e = err as { code?: string; message?: string };
  const msg = e?.message ?? '';
  switch (e?.code) {
    case '23505':
      return new DbConstraintError('unique', msg, { cause: err });
    case '23503':
      return new DbConstraintError('foreign_key', msg, { cause: err });
    case '23514':
      return new DbConstraintError('check', msg, { cause: err });
    case '23502':
      return new DbConstraintError('not_null', msg, { cause: err });
    case '23P01':
      return new DbConstraintError('exclusion', msg, { cause: err });
    case 'P0001':
      return new DbConstraintError('refused', msg, { cause: err });
    default:
      // The server gone (stopped, restarting, unreachable): 503 with a clear message, not a 500.
      return pgUnreachable(e) ? unavailable('the registry database is unreachable; try again shortly', err) : err;
  }
}

function pgUnreachable(e: { code?: string; message?: string }): boolean {
  if (/^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|EPIPE|EAI_AGAIN|08...|57P0[123])$/.test(e?.code ?? '')) return true;
  return /Connection terminated|timeout exceeded when trying to connect|connection error|Connection refused/i.test(e?.message ?? '');
}

// ── SQLite ───────────────────────────────────────────────────────────────────────────────────

class SqliteQueryable implements Queryable {
  readonly dialect = 'sqlite' as const;
  protected readonly db: DatabaseSync;
  constructor(db: DatabaseSync) {
    this.db = db;
  }
  protected sync<T>(fn: () => T): Promise<T> {
    try {
      return Promise.resolve(fn());
    } catch (err) {
      return Promise.reject(translateSqlite(err));
    }
  }
  all<T = Row>(sql: string, params: Param[] = []): Promise<T[]> {
    return this.sync(() => this.db.prepare(sql).all(...params) as T[]);
  }
  get<T = Row>(sql: string, params: Param[] = []): Promise<T | undefined> {
    return this.sync(() => this.db.prepare(sql).get(...params) as T | undefined);
  }
  run(sql: string, params: Param[] = []): Promise<number> {
    return this.sync(() => Number(this.db.prepare(sql).run(...params).changes));
  }
  exec(sql: string): Promise<void> {
    return this.sync(() => this.db.exec(sql));
  }
}

/** A FIFO async lock: one holder at a time. */
class Lock {
  #tail: Promise<void> = Promise.resolve();
  async hold<T>(fn: () => Promise<T>): Promise<T> {
    let release!: () => void;
    const prev = this.#tail;
    this.#tail = new Promise<void>((r) => (release = r));
    await prev;
    try {
      return await fn();
    } finally {
      release();
    }
  }
}

/**
 * The lock of each database file open in this process, with how many connections use it.
 * node:sqlite is synchronous: a second connection's BEGIN IMMEDIATE waiting out busy_timeout
 * blocks the event loop, so the first connection's transaction (awaiting its next statement on
 * that same loop) can never finish — both fail with "database is locked" after 5 s. Connections
 * of one process therefore queue on one lock; other processes still wait through busy_timeout.
 */
const fileLocks = new Map<string, { lock: Lock; users: number }>();

function fileLock(path: string): { lock: Lock; release: () => void } {
  if (path === ':memory:') return { lock: new Lock(), release: () => undefined };
  const key = resolve(path);
  let entry = fileLocks.get(key);
  if (!entry) {
    entry = { lock: new Lock(), users: 0 };
    fileLocks.set(key, entry);
  }
  entry.users++;
  const held = entry;
  return {
    lock: held.lock,
    release: () => {
      if (--held.users === 0 && fileLocks.get(key) === held) fileLocks.delete(key);
    },
  };
}

export class SqliteDatabase implements Database {
  readonly dialect = 'sqlite' as const;
  readonly where: string;
  readonly #db: DatabaseSync;
  readonly #q: SqliteQueryable;
  readonly #lock: Lock;
  readonly #release: () => void;

  constructor(path: string) {
    this.where = path;
    this.#db = openSqlite(path);
    this.#q = new SqliteQueryable(this.#db);
    ({ lock: this.#lock, release: this.#release } = fileLock(path));
  }
  all<T = Row>(sql: string, params?: Param[]): Promise<T[]> {
    return this.#lock.hold(() => this.#q.all<T>(sql, params));
  }
  get<T = Row>(sql: string, params?: Param[]): Promise<T | undefined> {
    return this.#lock.hold(() => this.#q.get<T>(sql, params));
  }
  run(sql: string, params?: Param[]): Promise<number> {
    return this.#lock.hold(() => this.#q.run(sql, params));
  }
  exec(sql: string): Promise<void> {
    return this.#lock.hold(() => this.#q.exec(sql));
  }
  tx<T>(fn: (q: Queryable) => Promise<T>): Promise<T> {
    return this.#lock.hold(async () => {
      // IMMEDIATE: take the write lock now, so a second process waits (busy_timeout) rather
      // than failing when both upgrade a read to a write.
      this.#db.exec('BEGIN IMMEDIATE');
      try {
        const result = await fn(this.#q);
        this.#db.exec('COMMIT');
        return result;
      } catch (err) {
        if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
        throw err;
      }
    });
  }
  async close(): Promise<void> {
    await this.#lock.hold(async () => {
      if (!this.#db.isOpen) return;
      this.#db.close();
      this.#release();
    });
  }
}

/**
 * ` FOR UPDATE` on PostgreSQL, for a SELECT inside `tx` whose row the transaction then changes:
 * the row is locked until commit, and a concurrent transaction doing the same waits and then reads
 * the committed row (READ COMMITTED takes a new snapshot per statement). On SQLite nothing: a
 * transaction is BEGIN IMMEDIATE behind the file's lock, so it reads the latest rows and no other
 * writer can start until it ends.
 */
export function forUpdate(q: Queryable): string {
  return q.dialect === 'postgres' ? ' FOR UPDATE' : '';
}

// ── PostgreSQL ───────────────────────────────────────────────────────────────────────────────

/** `?` → `$n`, leaving quoted strings and identifiers alone. */
export function toPgPlaceholders(sql: string): string {
  let out = '';
  let n = 0;
  let quote: string | null = null;
  for (const ch of sql) {
    if (quote) {
      if (ch === quote) quote = null;
      out += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      out += ch;
    } else if (ch === '?') {
      out += `$${++n}`;
    } else {
      out += ch;
    }
  }
  return out;
}

// BIGINT (int8) comes back as a string by default; our values are epoch ms and counts, well
// inside Number's exact range. COUNT(*) is int8 too.
const pgTypes = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === 20 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

class PgQueryable implements Queryable {
  readonly dialect = 'postgres' as const;
  protected readonly client: pg.Pool | pg.PoolClient;
  constructor(client: pg.Pool | pg.PoolClient) {
    this.client = client;
  }
  protected async query(sql: string, params: Param[]): Promise<pg.QueryResult> {
    try {
      return await this.client.query({ text: toPgPlaceholders(sql), values: params, types: pgTypes });
    } catch (err) {
      throw translatePg(err);
    }
  }
  async all<T = Row>(sql: string, params: Param[] = []): Promise<T[]> {
    return (await this.query(sql, params)).rows as T[];
  }
  async get<T = Row>(sql: string, params: Param[] = []): Promise<T | undefined> {
    return (await this.query(sql, params)).rows[0] as T | undefined;
  }
  async run(sql: string, params: Param[] = []): Promise<number> {
    return (await this.query(sql, params)).rowCount ?? 0;
  }
  async exec(sql: string): Promise<void> {
    try {
      await this.client.query(sql);
    } catch (err) {
      throw translatePg(err);
    }
  }
}

export class PgDatabase extends PgQueryable implements Database {
  readonly where: string;
  readonly #pool: pg.Pool;
  constructor(url: string) {
    // A server that stops answering fails a request after 5 s instead of holding it forever.
    const pool = new pg.Pool({ connectionString: url, max: 8, connectionTimeoutMillis: 5000 });
    super(pool);
    this.#pool = pool;
    const u = new URL(url);
    if (u.password) u.password = '***';
    this.where = u.toString();
    // An idle client losing its server must not crash the process; the next query reconnects.
    pool.on('error', () => undefined);
  }
  async tx<T>(fn: (q: Queryable) => Promise<T>): Promise<T> {
    const client = await this.#pool.connect().catch((err: unknown) => {
      throw translatePg(err);
    });
    try {
      await client.query('BEGIN');
      try {
        const result = await fn(new PgQueryable(client));
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
    } finally {
      client.release();
    }
  }
  async close(): Promise<void> {
    await this.#pool.end();
  }
}

/** The registry database: PostgreSQL when a URL is given, else `registry.sqlite` in the data dir. */
export async function openDatabase(opts: { databaseUrl?: string | undefined; dataDir: string }): Promise<Database> {
  if (opts.databaseUrl) {
    const db = new PgDatabase(opts.databaseUrl);
    try {
      await db.get('SELECT 1 AS ok');
    } catch (err) {
      await db.close().catch(() => undefined);
      throw new Error(`cannot reach PostgreSQL at ${db.where} (TESTBED_DATABASE_URL): ${(err as Error).message}`);
    }
    return db;
  }
  return new SqliteDatabase(opts.dataDir === ':memory:' ? ':memory:' : join(opts.dataDir, 'registry.sqlite'));
}
