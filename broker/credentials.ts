// Who may connect to the broker. Gateways come from a directory that a second process (the CLI's
// `testbed gateway add`, the registry API) can add to or revoke in while the broker runs:
// every verify reads the record again, so a new gateway is accepted and a revoked one refused on
// its very next connect, without restarting the broker. The directory is the trial registry
// (registry/, SQLite or PostgreSQL) when `testbed` runs; given a data dir instead, the store
// keeps its own SQLite table (credentials.db), which is what the broker's own tests use. Service
// accounts (ingest, monitor, admin) are per-process configuration and only kept in memory.

import { createHmac, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { ID_PATTERN } from '../devices/contract.ts';
import { openSqlite, transaction, type DatabaseSync } from '../lib/sqlite.ts';
import { GENERATED_SECRET_COST, hashPasswordSync, randomPassword, verifyPassword } from './password.ts';

export type ServiceRole = 'ingest' | 'monitor' | 'admin';
export const SERVICE_ROLES: readonly ServiceRole[] = ['ingest', 'monitor', 'admin'];

export type Principal =
  | { type: 'gateway'; username: string; site: string; gateway: string }
  | { type: 'service'; username: string; role: ServiceRole };

export interface GatewayRecord {
  site: string;
  gateway: string;
  username: string;
  /** Epoch milliseconds. */
  createdAt: number;
  revokedAt: number | null;
  lastSeenAt: number | null;
}

export interface IssuedCredential {
  username: string;
  /** Shown once; only its hash is stored. */
  password: string;
}

/** A gateway's credential record as the broker needs it. */
export interface GatewayCredential {
  site: string;
  gateway: string;
  username: string;
  passwordHash: string;
  revokedAt: number | null;
}

/** Where gateway credentials live (the registry implements this). */
export interface GatewayDirectory {
  find(username: string): Promise<GatewayCredential | undefined>;
  /** Records that the gateway connected; failures are the directory's to report. */
  touch(username: string, at: number): Promise<void>;
}

interface Row {
  site: string;
  gateway: string;
  username: string;
  password_hash: string;
  created_at: number;
  revoked_at: number | null;
  last_seen_at: number | null;
}

/** Gateway usernames are `site.gateway`; both parts match ID_PATTERN, which has no dot. */
export const gatewayUsername = (site: string, gateway: string) => `${site}.${gateway}`;

function checkId(what: 'site' | 'gateway', id: string): void {
  if (typeof id !== 'string' || !ID_PATTERN.test(id)) {
    throw new Error(
      `${what} id '${String(id)}' is not valid: expected lowercase letters, digits and dashes, 1–63 characters, starting with a letter ` +
        `or digit (${ID_PATTERN})`,
    );
  }
}

/** Cached verification results; bounded so a flood of distinct wrong passwords cannot grow it. */
const CACHE_LIMIT = 10_000;
/** last_seen_at is written at most this often per gateway: each write is an fsync. */
const TOUCH_INTERVAL_MS = 30_000;

export class CredentialStore {
  /** The SQLite file, when the store keeps its own table; null on a directory. */
  readonly path: string | null;
  private readonly db: DatabaseSync | null;
  private readonly directory: GatewayDirectory | null;
  private readonly services = new Map<string, { hash: string; role: ServiceRole }>();
  /**
   * (username, HMAC(password)) → the stored hash it was checked against and the outcome. A hit
   * is only used while the stored hash is unchanged, so a rotation invalidates it; revocation is
   * checked on the row itself every time and is never cached. The key is an HMAC under a
   * per-process random key rather than a bare sha256, so this map is useless to whoever dumps
   * the process memory for guessing human-chosen service passwords.
   */
  private readonly cache = new Map<string, { record: string; ok: boolean }>();
  private readonly cacheKey = randomBytes(32);
  private readonly touched = new Map<string, number>();
  private readonly stmt: {
    byUsername: ReturnType<DatabaseSync['prepare']>;
    touch: ReturnType<DatabaseSync['prepare']>;
  } | null;

  /** `source`: a data dir (own SQLite table) or a directory such as the registry. */
  constructor(source: string | GatewayDirectory) {
    if (typeof source !== 'string') {
      this.path = null;
      this.db = null;
      this.stmt = null;
      this.directory = source;
      return;
    }
    this.directory = null;
    this.path = join(source, 'credentials.db');
    this.db = openSqlite(this.path);
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS gateways (
        site TEXT NOT NULL,
        gateway TEXT NOT NULL,
        username TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        revoked_at INTEGER,
        last_seen_at INTEGER,
        PRIMARY KEY (site, gateway)
      ) STRICT;
    `);
    this.stmt = {
      byUsername: this.db.prepare('SELECT * FROM gateways WHERE username = ?'),
      touch: this.db.prepare('UPDATE gateways SET last_seen_at = ? WHERE username = ?'),
    };
  }

  private own(): { db: DatabaseSync; stmt: NonNullable<CredentialStore['stmt']> } {
    if (!this.db || !this.stmt)
      throw new Error(
        'gateways are provisioned through the registry here (testbed gateway add, POST /api/v1/gateways), not on the credential store',
      );
    return { db: this.db, stmt: this.stmt };
  }

  private async lookup(username: string): Promise<GatewayCredential | undefined> {
    if (this.directory) return this.directory.find(username);
    const row = this.stmt!.byUsername.get(username) as Row | undefined;
    return (
      row && { site: row.site, gateway: row.gateway, username: row.username, passwordHash: row.password_hash, revokedAt: row.revoked_at }
    );
  }

  /**
   * Issues a credential for a gateway. Adding a gateway that exists and is not revoked is an
   * error (its installed password would silently stop working) unless `rotate` is set; a
   * revoked gateway can be added again and gets a fresh password.
   */
  addGateway(site: string, gateway: string, options: { rotate?: boolean } = {}): IssuedCredential {
    checkId('site', site);
    checkId('gateway', gateway);
    const username = gatewayUsername(site, gateway);
    const password = randomPassword();
    // Hash before taking the write lock: scrypt takes tens of ms and the broker reads meanwhile.
    const hash = hashPasswordSync(password, GENERATED_SECRET_COST);
    const { db, stmt } = this.own();
    transaction(db, () => {
      const existing = stmt.byUsername.get(username) as Row | undefined;
      if (existing && existing.revoked_at === null && !options.rotate) {
        throw new Error(`gateway ${username} already exists; use rotate to issue a new password (the old one stops working)`);
      }
      if (existing) {
        db.prepare('UPDATE gateways SET password_hash = ?, revoked_at = NULL, created_at = ? WHERE username = ?').run(
          hash,
          Date.now(),
          username,
        );
      } else {
        db.prepare('INSERT INTO gateways (site, gateway, username, password_hash, created_at) VALUES (?, ?, ?, ?, ?)').run(
          site,
          gateway,
          username,
          hash,
          Date.now(),
        );
      }
    });
    return { username, password };
  }

  /** Revokes a gateway: its next connect is refused. Returns false when it was already revoked. */
  revoke(site: string, gateway: string): boolean {
    checkId('site', site);
    checkId('gateway', gateway);
    const username = gatewayUsername(site, gateway);
    const { db, stmt } = this.own();
    const result = db.prepare('UPDATE gateways SET revoked_at = ? WHERE username = ? AND revoked_at IS NULL').run(Date.now(), username);
    if (result.changes === 0) {
      if (!stmt.byUsername.get(username)) throw new Error(`no gateway ${username}`);
      return false;
    }
    return true;
  }

  list(): GatewayRecord[] {
    const rows = this.own().db.prepare('SELECT * FROM gateways ORDER BY site, gateway').all() as unknown as Row[];
    return rows.map((r) => ({
      site: r.site,
      gateway: r.gateway,
      username: r.username,
      createdAt: r.created_at,
      revokedAt: r.revoked_at,
      lastSeenAt: r.last_seen_at,
    }));
  }

  /** Records that a gateway connected (written at most every 30 s per gateway by this process). */
  touch(username: string, now = Date.now()): void {
    const last = this.touched.get(username);
    if (last !== undefined && now - last < TOUCH_INTERVAL_MS) return;
    this.touched.set(username, now);
    if (this.directory) void this.directory.touch(username, now).catch(() => undefined);
    else this.stmt!.touch.run(now, username);
  }

  /**
   * Configures a service account for this process. Service usernames may not contain a dot,
   * so they can never collide with a gateway's `site.gateway`.
   */
  setService(username: string, password: string, role: ServiceRole): void {
    if (!username || username.includes('.'))
      throw new Error(`service username '${username}' is not valid: non-empty, without '.' (dots are reserved for gateways)`);
    if (!password) throw new Error(`service account ${username}: empty password (the account would be open)`);
    if (!SERVICE_ROLES.includes(role))
      throw new Error(`service account ${username}: role '${String(role)}' is not one of ${SERVICE_ROLES.join(', ')}`);
    this.services.set(username, { hash: hashPasswordSync(password), role });
  }

  /** The principal for a valid, unrevoked credential; null otherwise. */
  async verify(username: string, password: string): Promise<Principal | null> {
    if (typeof username !== 'string' || typeof password !== 'string' || !username || !password) return null;
    const service = this.services.get(username);
    if (service) {
      return (await this.check(username, password, service.hash)) ? { type: 'service', username, role: service.role } : null;
    }
    // Unknown gateways are refused without spending scrypt: usernames are not secret (they are
    // the topic levels), so the timing difference reveals nothing an ACL'd topic would not.
    const row = await this.lookup(username);
    if (!row || row.revokedAt !== null) return null;
    if (!(await this.check(username, password, row.passwordHash))) return null;
    // Read again: a revoke or rotation committed while scrypt ran must still win.
    const now = await this.lookup(username);
    if (!now || now.revokedAt !== null || now.passwordHash !== row.passwordHash) return null;
    return { type: 'gateway', username, site: row.site, gateway: row.gateway };
  }

  close(): void {
    this.db?.close();
  }

  private async check(username: string, password: string, record: string): Promise<boolean> {
    const key = `${username}\0${createHmac('sha256', this.cacheKey).update(password).digest('base64url')}`;
    const hit = this.cache.get(key);
    if (hit && hit.record === record) return hit.ok;
    const ok = await verifyPassword(password, record);
    if (this.cache.size >= CACHE_LIMIT) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(key, { record, ok });
    return ok;
  }
}
