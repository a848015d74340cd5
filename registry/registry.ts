// The trial registry: organisations, sites, trials, homes, pseudonymous participants, absences,
// devices, device→home assignments over time, gateways with their MQTT credentials, users with API
// tokens, and an append-only audit log. Every method takes the Actor it acts for and enforces the
// role rules itself (the HTTP layer checks the role too, but this is where the line is held):
//
//   admin        everything
//   coordinator  their organisation's trials and the sites of those trials (plus sites their
//                organisation owns): homes, participants, absences, assignments, gateways there
//   company      their organisation's devices and gateways, never participant data
//   researcher   read-only; participants (pseudonyms) only when consented
//
// Every write, and every read of participant data, appends to the audit log in the same
// transaction as the change: a failed write leaves neither change nor audit entry.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { DEVICE_ID_PATTERN, KIND_NAMES, isKind } from '../devices/index.ts';
import { hashPassword, randomPassword, gatewayUsername, GENERATED_SECRET_COST } from '../broker/index.ts';
import { ApiError, badRequest, conflict, forbidden, notFound } from '../lib/errors.ts';
import { DbConstraintError, type Database, type Param, type Queryable, type Row } from './db.ts';
import { ID_PATTERN, PSEUDONYM_PATTERN, newId, newPseudonym } from './ids.ts';

export type Role = 'admin' | 'coordinator' | 'company' | 'researcher';
export const ROLES: readonly Role[] = ['admin', 'coordinator', 'company', 'researcher'];

export interface Actor {
  /** A user id, or `cli:<os user>` for the command line. */
  id: string;
  role: Role;
  orgId: string | null;
  tokenId?: string | null;
}

// ── API shapes ───────────────────────────────────────────────────────────────────────────────

export type OrgType = 'region' | 'municipality' | 'company' | 'university' | 'other';
export type Phase = 'micro-trial' | 'pilot' | 'scale-up';
export type ConsentStatus = 'pending' | 'consented' | 'declined' | 'withdrawn';
export type LegalBasis = 'consent' | 'public-task' | 'legitimate-interests' | 'scientific-research';
export type AbsenceReason = 'hospital-stay' | 'travel' | 'device-removed' | 'respite-care' | 'other';
export type PastData = 'retain' | 'exclude';

export interface Organisation {
  id: string;
  name: string;
  type: OrgType;
  createdAt: number;
  updatedAt: number;
}
export interface Site {
  id: string;
  orgId: string | null;
  name: string;
  facilities: string[];
  description: string | null;
  createdAt: number;
  updatedAt: number;
}
export interface Trial {
  id: string;
  orgId: string;
  name: string;
  phase: Phase;
  protocolVersion: string;
  startAt: number;
  endAt: number | null;
  siteIds: string[];
  createdAt: number;
  updatedAt: number;
}
export interface Home {
  id: string;
  siteId: string;
  label: string | null;
  createdAt: number;
  updatedAt: number;
}
export interface Participant {
  id: string;
  trialId: string;
  homeId: string;
  enrolledAt: number;
  withdrawnAt: number | null;
  consentStatus: ConsentStatus;
  consentScope: string[];
  legalBasis: LegalBasis;
  /** After a withdrawal: whether data from before it may still be exported. */
  pastData: PastData | null;
  createdAt: number;
  updatedAt: number;
}
export interface Absence {
  id: string;
  participantId: string;
  from: number;
  to: number | null;
  reason: AbsenceReason;
  createdAt: number;
  updatedAt: number;
}
export interface Device {
  id: string;
  kind: string;
  vendor: string;
  model: string;
  firmware: string | null;
  zigbeeAddress: string | null;
  serial: string | null;
  orgId: string;
  createdAt: number;
  updatedAt: number;
}
export interface Assignment {
  id: string;
  deviceId: string;
  homeId: string;
  participantId: string | null;
  from: number;
  to: number | null;
  createdAt: number;
  updatedAt: number;
}
export interface Gateway {
  id: string;
  siteId: string;
  gateway: string;
  homeId: string | null;
  orgId: string | null;
  createdAt: number;
  updatedAt: number;
  revokedAt: number | null;
  lastSeenAt: number | null;
}
export interface User {
  id: string;
  name: string;
  role: Role;
  orgId: string | null;
  createdAt: number;
  updatedAt: number;
  disabledAt: number | null;
}
export interface TokenInfo {
  id: string;
  userId: string;
  label: string | null;
  createdAt: number;
  expiresAt: number | null;
  revokedAt: number | null;
  lastUsedAt: number | null;
}
export interface AuditEntry {
  id: number;
  at: number;
  actor: string;
  role: string;
  tokenId: string | null;
  action: string;
  resourceType: string;
  resourceId: string | null;
  details: Record<string, unknown>;
}

// ── row ↔ object ─────────────────────────────────────────────────────────────────────────────

type Codec = 'text' | 'int' | 'json';
type Fields = Record<string, readonly [col: string, codec: Codec]>;

const F = {
  organisations: {
    id: ['id', 'text'],
    name: ['name', 'text'],
    type: ['type', 'text'],
    createdAt: ['created_at', 'int'],
    updatedAt: ['updated_at', 'int'],
  },
  sites: {
    id: ['id', 'text'],
    orgId: ['org_id', 'text'],
    name: ['name', 'text'],
    facilities: ['facilities', 'json'],
    description: ['description', 'text'],
    createdAt: ['created_at', 'int'],
    updatedAt: ['updated_at', 'int'],
  },
  trials: {
    id: ['id', 'text'],
    orgId: ['org_id', 'text'],
    name: ['name', 'text'],
    phase: ['phase', 'text'],
    protocolVersion: ['protocol_version', 'text'],
    startAt: ['start_at', 'int'],
    endAt: ['end_at', 'int'],
    createdAt: ['created_at', 'int'],
    updatedAt: ['updated_at', 'int'],
  },
  homes: {
    id: ['id', 'text'],
    siteId: ['site_id', 'text'],
    label: ['label', 'text'],
    createdAt: ['created_at', 'int'],
    updatedAt: ['updated_at', 'int'],
  },
  participants: {
    id: ['id', 'text'],
    trialId: ['trial_id', 'text'],
    homeId: ['home_id', 'text'],
    enrolledAt: ['enrolled_at', 'int'],
    withdrawnAt: ['withdrawn_at', 'int'],
    consentStatus: ['consent_status', 'text'],
    consentScope: ['consent_scope', 'json'],
    legalBasis: ['legal_basis', 'text'],
    pastData: ['past_data', 'text'],
    createdAt: ['created_at', 'int'],
    updatedAt: ['updated_at', 'int'],
  },
  absences: {
    id: ['id', 'text'],
    participantId: ['participant_id', 'text'],
    from: ['from_ts', 'int'],
    to: ['to_ts', 'int'],
    reason: ['reason', 'text'],
    createdAt: ['created_at', 'int'],
    updatedAt: ['updated_at', 'int'],
  },
  devices: {
    id: ['id', 'text'],
    kind: ['kind', 'text'],
    vendor: ['vendor', 'text'],
    model: ['model', 'text'],
    firmware: ['firmware', 'text'],
    zigbeeAddress: ['zigbee_address', 'text'],
    serial: ['serial', 'text'],
    orgId: ['org_id', 'text'],
    createdAt: ['created_at', 'int'],
    updatedAt: ['updated_at', 'int'],
  },
  assignments: {
    id: ['id', 'text'],
    deviceId: ['device_id', 'text'],
    homeId: ['home_id', 'text'],
    participantId: ['participant_id', 'text'],
    from: ['from_ts', 'int'],
    to: ['to_ts', 'int'],
    createdAt: ['created_at', 'int'],
    updatedAt: ['updated_at', 'int'],
  },
  gateways: {
    id: ['id', 'text'],
    siteId: ['site_id', 'text'],
    gateway: ['gateway', 'text'],
    homeId: ['home_id', 'text'],
    orgId: ['org_id', 'text'],
    createdAt: ['created_at', 'int'],
    updatedAt: ['updated_at', 'int'],
    revokedAt: ['revoked_at', 'int'],
    lastSeenAt: ['last_seen_at', 'int'],
  },
  users: {
    id: ['id', 'text'],
    name: ['name', 'text'],
    role: ['role', 'text'],
    orgId: ['org_id', 'text'],
    createdAt: ['created_at', 'int'],
    updatedAt: ['updated_at', 'int'],
    disabledAt: ['disabled_at', 'int'],
  },
} as const satisfies Record<string, Fields>;

type Table = keyof typeof F;

function decode<T>(table: Table, row: Row): T {
  const out: Record<string, unknown> = {};
  for (const [key, [col, codec]] of Object.entries(F[table] as Fields)) {
    const v = row[col];
    if (v === null || v === undefined) out[key] = null;
    else if (codec === 'int') out[key] = Number(v);
    else if (codec === 'json') out[key] = JSON.parse(String(v));
    else out[key] = String(v);
  }
  return out as T;
}

function encode(table: Table, key: string, value: unknown): Param {
  const [, codec] = (F[table] as Fields)[key]!;
  if (value === null || value === undefined) return null;
  if (codec === 'json') return JSON.stringify(value);
  return value as Param;
}

async function insert(q: Queryable, table: Table, obj: Record<string, unknown>): Promise<void> {
  const keys = Object.keys(obj).filter((k) => k in F[table]);
  const cols = keys.map((k) => (F[table] as Fields)[k]![0]);
  await q.run(
    `INSERT INTO ${table} (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`,
    keys.map((k) => encode(table, k, obj[k])),
  );
}

const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

/** Applies the fields of `patch` that differ from `current`; returns what changed, as [old, new]. */
async function update(
  q: Queryable,
  table: Table,
  current: Record<string, unknown>,
  patch: Record<string, unknown>,
  now: number,
): Promise<Record<string, [unknown, unknown]>> {
  const changed: Record<string, [unknown, unknown]> = {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined || !(k in F[table]) || k === 'id') continue;
    if (!same(current[k], v)) changed[k] = [current[k] ?? null, v];
  }
  const keys = Object.keys(changed);
  if (keys.length === 0) return changed;
  const sets = keys.map((k) => `${(F[table] as Fields)[k]![0]} = ?`);
  const hasUpdatedAt = 'updatedAt' in F[table];
  await q.run(`UPDATE ${table} SET ${sets.join(', ')}${hasUpdatedAt ? ', updated_at = ?' : ''} WHERE id = ?`, [
    ...keys.map((k) => encode(table, k, changed[k]![1])),
    ...(hasUpdatedAt ? [now] : []),
    String(current.id),
  ]);
  return changed;
}

async function byId<T>(q: Queryable, table: Table, id: string): Promise<T | undefined> {
  const row = await q.get(`SELECT * FROM ${table} WHERE id = ?`, [id]);
  return row ? decode<T>(table, row) : undefined;
}

function where(filters: [string, Param | undefined][]): { sql: string; params: Param[] } {
  const used = filters.filter(([, v]) => v !== undefined) as [string, Param][];
  return { sql: used.length ? ' WHERE ' + used.map(([c]) => `${c} = ?`).join(' AND ') : '', params: used.map(([, v]) => v) };
}

// ── validation helpers ───────────────────────────────────────────────────────────────────────

function checkSlug(what: string, id: unknown): string {
  if (typeof id !== 'string' || !ID_PATTERN.test(id))
    throw badRequest(
      `${what} id '${String(id)}' is not valid: lowercase letters, digits and dashes, 1–63 characters, starting with a letter or digit`,
    );
  return id;
}
function checkInterval(what: string, from: number, to: number | null | undefined): void {
  if (to !== null && to !== undefined && to <= from)
    throw badRequest(`${what}: the end (${new Date(to).toISOString()}) must be after the start (${new Date(from).toISOString()})`);
}
const iso = (t: number | null) => (t === null ? 'open-ended' : new Date(t).toISOString());

function page<T>(items: T[], o: { limit?: number | undefined; offset?: number | undefined }): T[] {
  const offset = o.offset ?? 0;
  return items.slice(offset, offset + (o.limit ?? 1000));
}

export interface ListOptions {
  limit?: number | undefined;
  offset?: number | undefined;
}

// ── tokens ───────────────────────────────────────────────────────────────────────────────────

/**
 * API tokens look like `tb1.<token id>.<secret>`: the id finds the row, the secret (32 random
 * bytes, base64url) is checked against its SHA-256. A random 256-bit secret needs no slow hash:
 * there is nothing to guess. The token is shown once, at creation.
 */
const TOKEN_PATTERN = /^tb1\.(tok-[0-9a-z]{10})\.([A-Za-z0-9_-]{43})$/;
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

// ── the registry ─────────────────────────────────────────────────────────────────────────────

export interface RegistryHooks {
  /** After every committed write (the attribution cache reloads). */
  changed?: () => Promise<void> | void;
  /** Drops live broker connections of a gateway (when the broker runs in this process). */
  disconnect?: (username: string) => number;
  /** Sends a command to a gateway and resolves with its reply (rejects with ApiError 504 on timeout). */
  command?: (site: string, gateway: string, name: string, payload: Record<string, unknown>) => Promise<unknown>;
}

interface Scope {
  actor: Actor;
  /** For coordinators: the trials of their organisation, and the sites in scope. */
  trials: Set<string> | null;
  sites: Set<string> | null;
}

export class Registry {
  readonly db: Database;
  hooks: RegistryHooks;
  readonly #tokenTouched = new Map<string, number>();

  constructor(db: Database, hooks: RegistryHooks = {}) {
    this.db = db;
    this.hooks = hooks;
  }

  // ── plumbing ──

  /** A write: one transaction with its audit entries, then the change hook. */
  async #write<T>(fn: (q: Queryable) => Promise<T>): Promise<T> {
    let result: T;
    try {
      result = await this.db.tx(fn);
    } catch (err) {
      if (err instanceof DbConstraintError) {
        const status = err.kind === 'unique' || err.kind === 'exclusion' || err.kind === 'refused' ? 409 : 400;
        throw new ApiError(status, `refused by the database (${err.kind}): ${err.message}`);
      }
      throw err;
    }
    await this.hooks.changed?.();
    return result;
  }

  async #audit(
    q: Queryable,
    a: Actor,
    action: string,
    type: string,
    id: string | null,
    details: Record<string, unknown> = {},
  ): Promise<void> {
    await q.run(
      'INSERT INTO audit_log (at, actor, role, token_id, action, resource_type, resource_id, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      [Date.now(), a.id, a.role, a.tokenId ?? null, action, type, id, JSON.stringify(details)],
    );
  }

  async #scope(q: Queryable, a: Actor): Promise<Scope> {
    if (a.role !== 'coordinator') return { actor: a, trials: null, sites: null };
    const org = a.orgId ?? '';
    const trials = (await q.all<{ id: string }>('SELECT id FROM trials WHERE org_id = ?', [org])).map((r) => r.id);
    const sites = (
      await q.all<{ id: string }>(
        'SELECT id FROM sites WHERE org_id = ? UNION SELECT ts.site_id AS id FROM trial_sites ts JOIN trials t ON t.id = ts.trial_id WHERE t.org_id = ?',
        [org, org],
      )
    ).map((r) => r.id);
    return { actor: a, trials: new Set(trials), sites: new Set(sites) };
  }

  #role(a: Actor, allowed: readonly Role[], what: string): void {
    if (!allowed.includes(a.role)) throw forbidden(`role '${a.role}' may not ${what}`);
  }

  async #must<T>(q: Queryable, table: Table, id: string, what: string, status = 404): Promise<T> {
    const found = await byId<T>(q, table, id);
    if (!found) throw new ApiError(status, `${what} '${id}' does not exist`);
    return found;
  }

  #siteInScope(s: Scope, siteId: string, what: string): void {
    if (s.sites && !s.sites.has(siteId)) throw forbidden(`${what}: site '${siteId}' is outside your organisation's trials`);
  }
  #trialInScope(s: Scope, trialId: string, what: string): void {
    if (s.trials && !s.trials.has(trialId)) throw forbidden(`${what}: trial '${trialId}' is not one of your organisation's trials`);
  }
  #ownOrg(a: Actor, orgId: string | null, what: string): void {
    if (a.role !== 'admin' && orgId !== a.orgId)
      throw forbidden(`${what}: it belongs to organisation '${orgId ?? 'none'}', not yours ('${a.orgId ?? 'none'}')`);
  }

  // ── organisations ──

  async createOrganisation(a: Actor, body: { id?: string | undefined; name: string; type: OrgType }): Promise<Organisation> {
    this.#role(a, ['admin'], 'create organisations');
    const id = body.id ? checkSlug('organisation', body.id) : newId('org');
    return this.#write(async (q) => {
      if (await byId(q, 'organisations', id)) throw conflict(`organisation '${id}' already exists`);
      const now = Date.now();
      const org: Organisation = { id, name: body.name, type: body.type, createdAt: now, updatedAt: now };
      await insert(q, 'organisations', { ...org });
      await this.#audit(q, a, 'create', 'organisation', id, { name: org.name, type: org.type });
      return org;
    });
  }

  async getOrganisation(a: Actor, id: string): Promise<Organisation> {
    return this.#must<Organisation>(this.db, 'organisations', id, 'organisation');
  }

  async listOrganisations(a: Actor, o: ListOptions & { type?: string | undefined } = {}): Promise<Organisation[]> {
    const w = where([['type', o.type]]);
    return page(
      (await this.db.all(`SELECT * FROM organisations${w.sql} ORDER BY id`, w.params)).map((r) => decode<Organisation>('organisations', r)),
      o,
    );
  }

  async updateOrganisation(a: Actor, id: string, patch: { name?: string | undefined; type?: OrgType | undefined }): Promise<Organisation> {
    this.#role(a, ['admin'], 'change organisations');
    return this.#write(async (q) => {
      const cur = await this.#must<Organisation>(q, 'organisations', id, 'organisation');
      const changed = await update(q, 'organisations', { ...cur }, patch, Date.now());
      if (Object.keys(changed).length) await this.#audit(q, a, 'update', 'organisation', id, { changed });
      return (await byId<Organisation>(q, 'organisations', id))!;
    });
  }

  // ── sites ──

  async createSite(
    a: Actor,
    body: {
      id?: string | undefined;
      orgId?: string | null | undefined;
      name: string;
      facilities?: string[] | undefined;
      description?: string | null | undefined;
    },
  ): Promise<Site> {
    this.#role(a, ['admin', 'coordinator'], 'create sites');
    const id = body.id ? checkSlug('site', body.id) : newId('site');
    let orgId = body.orgId ?? null;
    if (a.role === 'coordinator') {
      orgId ??= a.orgId;
      this.#ownOrg(a, orgId, `site '${id}'`);
    }
    return this.#write(async (q) => {
      if (await byId(q, 'sites', id)) throw conflict(`site '${id}' already exists`);
      if (orgId) await this.#must(q, 'organisations', orgId, 'organisation', 400);
      const now = Date.now();
      const site: Site = {
        id,
        orgId,
        name: body.name,
        facilities: body.facilities ?? [],
        description: body.description ?? null,
        createdAt: now,
        updatedAt: now,
      };
      await insert(q, 'sites', { ...site });
      await this.#audit(q, a, 'create', 'site', id, { orgId, name: site.name });
      return site;
    });
  }

  async getSite(a: Actor, id: string): Promise<Site> {
    return this.#must<Site>(this.db, 'sites', id, 'site');
  }

  async listSites(a: Actor, o: ListOptions & { orgId?: string | undefined } = {}): Promise<Site[]> {
    const w = where([['org_id', o.orgId]]);
    return page(
      (await this.db.all(`SELECT * FROM sites${w.sql} ORDER BY id`, w.params)).map((r) => decode<Site>('sites', r)),
      o,
    );
  }

  async updateSite(
    a: Actor,
    id: string,
    patch: {
      orgId?: string | null | undefined;
      name?: string | undefined;
      facilities?: string[] | undefined;
      description?: string | null | undefined;
    },
  ): Promise<Site> {
    this.#role(a, ['admin', 'coordinator'], 'change sites');
    if (a.role !== 'admin' && patch.orgId !== undefined) throw forbidden('only an admin may move a site to another organisation');
    return this.#write(async (q) => {
      const cur = await this.#must<Site>(q, 'sites', id, 'site');
      this.#ownOrg(a, cur.orgId, `site '${id}'`);
      if (patch.orgId) await this.#must(q, 'organisations', patch.orgId, 'organisation', 400);
      const changed = await update(q, 'sites', { ...cur }, patch, Date.now());
      if (Object.keys(changed).length) await this.#audit(q, a, 'update', 'site', id, { changed });
      return (await byId<Site>(q, 'sites', id))!;
    });
  }

  // ── trials ──

  async #trialSites(q: Queryable, id: string): Promise<string[]> {
    return (await q.all<{ site_id: string }>('SELECT site_id FROM trial_sites WHERE trial_id = ? ORDER BY site_id', [id])).map(
      (r) => r.site_id,
    );
  }
  async #trial(q: Queryable, id: string): Promise<Trial | undefined> {
    const t = await byId<Omit<Trial, 'siteIds'>>(q, 'trials', id);
    return t ? { ...t, siteIds: await this.#trialSites(q, id) } : undefined;
  }
  async #checkTrialSites(q: Queryable, a: Actor, siteIds: string[]): Promise<void> {
    for (const s of siteIds) {
      const site = await this.#must<Site>(q, 'sites', s, 'site', 400);
      if (a.role === 'coordinator' && site.orgId !== a.orgId)
        throw forbidden(
          `site '${s}' belongs to organisation '${site.orgId ?? 'none'}'; a coordinator may only add their own organisation's sites to a trial`,
        );
    }
  }

  async createTrial(
    a: Actor,
    body: {
      id?: string | undefined;
      orgId?: string | undefined;
      name: string;
      phase: Phase;
      protocolVersion: string;
      startAt: number;
      endAt?: number | null | undefined;
      siteIds?: string[] | undefined;
    },
  ): Promise<Trial> {
    this.#role(a, ['admin', 'coordinator'], 'create trials');
    const id = body.id ? checkSlug('trial', body.id) : newId('trial');
    const orgId = body.orgId ?? (a.role === 'coordinator' ? a.orgId : undefined);
    if (!orgId) throw badRequest('orgId: the coordinating organisation is required');
    this.#ownOrg(a, orgId, `trial '${id}'`);
    checkInterval(`trial '${id}'`, body.startAt, body.endAt);
    const siteIds = [...new Set(body.siteIds ?? [])].sort();
    return this.#write(async (q) => {
      if (await byId(q, 'trials', id)) throw conflict(`trial '${id}' already exists`);
      await this.#must(q, 'organisations', orgId, 'organisation', 400);
      await this.#checkTrialSites(q, a, siteIds);
      const now = Date.now();
      const trial: Trial = {
        id,
        orgId,
        name: body.name,
        phase: body.phase,
        protocolVersion: body.protocolVersion,
        startAt: body.startAt,
        endAt: body.endAt ?? null,
        siteIds,
        createdAt: now,
        updatedAt: now,
      };
      await insert(q, 'trials', { ...trial });
      for (const s of siteIds) await q.run('INSERT INTO trial_sites (trial_id, site_id) VALUES (?, ?)', [id, s]);
      await this.#audit(q, a, 'create', 'trial', id, { orgId, phase: trial.phase, protocolVersion: trial.protocolVersion, siteIds });
      return trial;
    });
  }

  async getTrial(a: Actor, id: string): Promise<Trial> {
    this.#role(a, ROLES, 'read trials');
    const t = await this.#trial(this.db, id);
    if (!t) throw notFound(`trial '${id}' does not exist`);
    if (a.role === 'coordinator') this.#ownOrg(a, t.orgId, `trial '${id}'`);
    return t;
  }

  async listTrials(a: Actor, o: ListOptions & { orgId?: string | undefined } = {}): Promise<Trial[]> {
    const orgId = a.role === 'coordinator' ? (a.orgId ?? '') : o.orgId;
    if (a.role === 'coordinator' && o.orgId && o.orgId !== a.orgId) return [];
    const w = where([['org_id', orgId]]);
    const rows = (await this.db.all(`SELECT * FROM trials${w.sql} ORDER BY id`, w.params)).map((r) =>
      decode<Omit<Trial, 'siteIds'>>('trials', r),
    );
    const links = await this.db.all<{ trial_id: string; site_id: string }>('SELECT trial_id, site_id FROM trial_sites ORDER BY site_id');
    return page(
      rows.map((t) => ({ ...t, siteIds: links.filter((l) => l.trial_id === t.id).map((l) => l.site_id) })),
      o,
    );
  }

  async updateTrial(
    a: Actor,
    id: string,
    patch: {
      name?: string | undefined;
      phase?: Phase | undefined;
      protocolVersion?: string | undefined;
      startAt?: number | undefined;
      endAt?: number | null | undefined;
      siteIds?: string[] | undefined;
    },
  ): Promise<Trial> {
    this.#role(a, ['admin', 'coordinator'], 'change trials');
    return this.#write(async (q) => {
      const cur = await this.#trial(q, id);
      if (!cur) throw notFound(`trial '${id}' does not exist`);
      this.#ownOrg(a, cur.orgId, `trial '${id}'`);
      checkInterval(`trial '${id}'`, patch.startAt ?? cur.startAt, patch.endAt === undefined ? cur.endAt : patch.endAt);
      const { siteIds, ...rest } = patch;
      const changed: Record<string, [unknown, unknown]> = await update(q, 'trials', { ...cur }, rest, Date.now());
      if (siteIds) {
        const next = [...new Set(siteIds)].sort();
        if (!same(next, cur.siteIds)) {
          await this.#checkTrialSites(
            q,
            a,
            next.filter((s) => !cur.siteIds.includes(s)),
          );
          await q.run('DELETE FROM trial_sites WHERE trial_id = ?', [id]);
          for (const s of next) await q.run('INSERT INTO trial_sites (trial_id, site_id) VALUES (?, ?)', [id, s]);
          await q.run('UPDATE trials SET updated_at = ? WHERE id = ?', [Date.now(), id]);
          changed.siteIds = [cur.siteIds, next];
        }
      }
      if (Object.keys(changed).length) await this.#audit(q, a, 'update', 'trial', id, { changed });
      return (await this.#trial(q, id))!;
    });
  }

  // ── homes ──

  async createHome(a: Actor, body: { id?: string | undefined; siteId: string; label?: string | null | undefined }): Promise<Home> {
    this.#role(a, ['admin', 'coordinator'], 'create homes');
    const id = body.id ? checkSlug('home', body.id) : newId('home');
    return this.#write(async (q) => {
      if (await byId(q, 'homes', id)) throw conflict(`home '${id}' already exists`);
      await this.#must(q, 'sites', body.siteId, 'site', 400);
      this.#siteInScope(await this.#scope(q, a), body.siteId, `home '${id}'`);
      const now = Date.now();
      const home: Home = { id, siteId: body.siteId, label: body.label ?? null, createdAt: now, updatedAt: now };
      await insert(q, 'homes', { ...home });
      await this.#audit(q, a, 'create', 'home', id, { siteId: home.siteId });
      return home;
    });
  }

  async getHome(a: Actor, id: string): Promise<Home> {
    this.#role(a, ['admin', 'coordinator', 'researcher'], 'read homes');
    const h = await this.#must<Home>(this.db, 'homes', id, 'home');
    this.#siteInScope(await this.#scope(this.db, a), h.siteId, `home '${id}'`);
    return h;
  }

  async listHomes(a: Actor, o: ListOptions & { siteId?: string | undefined } = {}): Promise<Home[]> {
    this.#role(a, ['admin', 'coordinator', 'researcher'], 'read homes');
    const s = await this.#scope(this.db, a);
    const w = where([['site_id', o.siteId]]);
    const rows = (await this.db.all(`SELECT * FROM homes${w.sql} ORDER BY id`, w.params)).map((r) => decode<Home>('homes', r));
    return page(
      rows.filter((h) => !s.sites || s.sites.has(h.siteId)),
      o,
    );
  }

  async updateHome(a: Actor, id: string, patch: { label?: string | null | undefined }): Promise<Home> {
    this.#role(a, ['admin', 'coordinator'], 'change homes');
    return this.#write(async (q) => {
      const cur = await this.#must<Home>(q, 'homes', id, 'home');
      this.#siteInScope(await this.#scope(q, a), cur.siteId, `home '${id}'`);
      const changed = await update(q, 'homes', { ...cur }, patch, Date.now());
      if (Object.keys(changed).length) await this.#audit(q, a, 'update', 'home', id, { changed });
      return (await byId<Home>(q, 'homes', id))!;
    });
  }

  // ── participants ──

  async #checkParticipantPlace(q: Queryable, s: Scope, trialId: string, homeId: string, what: string): Promise<void> {
    const trial = await this.#trial(q, trialId);
    if (!trial) throw badRequest(`trial '${trialId}' does not exist`);
    this.#trialInScope(s, trialId, what);
    const home = await this.#must<Home>(q, 'homes', homeId, 'home', 400);
    this.#siteInScope(s, home.siteId, what);
    if (!trial.siteIds.includes(home.siteId))
      throw badRequest(
        `${what}: home '${homeId}' is at site '${home.siteId}', which is not one of trial '${trialId}''s sites (${trial.siteIds.join(', ') || 'none'})`,
      );
  }

  #participantVisible(s: Scope, p: Participant): boolean {
    if (s.actor.role === 'researcher') return p.consentStatus === 'consented';
    if (s.trials) return s.trials.has(p.trialId);
    return true;
  }

  async createParticipant(
    a: Actor,
    body: {
      id?: string | undefined;
      trialId: string;
      homeId: string;
      enrolledAt: number;
      consentStatus: ConsentStatus;
      consentScope?: string[] | undefined;
      legalBasis: LegalBasis;
    },
  ): Promise<Participant> {
    this.#role(a, ['admin', 'coordinator'], 'enrol participants');
    if (body.id !== undefined && !PSEUDONYM_PATTERN.test(body.id))
      throw badRequest(
        `participant id '${body.id}' is not a pseudonym: expected P- and six characters of 0-9 A-Z without I, L, O, U (e.g. P-7K3Q9X)`,
      );
    if (body.consentStatus === 'withdrawn')
      throw badRequest(
        'consentStatus: a participant is enrolled as pending, consented or declined; use POST /participants/{id}/withdraw to withdraw',
      );
    return this.#write(async (q) => {
      const s = await this.#scope(q, a);
      await this.#checkParticipantPlace(q, s, body.trialId, body.homeId, 'participant');
      let id = body.id;
      if (id && (await byId(q, 'participants', id))) throw conflict(`participant '${id}' already exists`);
      while (!id || (await byId(q, 'participants', id))) id = newPseudonym();
      const now = Date.now();
      const p: Participant = {
        id,
        trialId: body.trialId,
        homeId: body.homeId,
        enrolledAt: body.enrolledAt,
        withdrawnAt: null,
        consentStatus: body.consentStatus,
        consentScope: body.consentScope ?? [],
        legalBasis: body.legalBasis,
        pastData: null,
        createdAt: now,
        updatedAt: now,
      };
      await insert(q, 'participants', { ...p });
      await this.#audit(q, a, 'create', 'participant', id, {
        trialId: p.trialId,
        homeId: p.homeId,
        consentStatus: p.consentStatus,
        consentScope: p.consentScope,
        legalBasis: p.legalBasis,
      });
      return p;
    });
  }

  async getParticipant(a: Actor, id: string): Promise<Participant> {
    this.#role(a, ['admin', 'coordinator', 'researcher'], 'read participant data');
    return this.db.tx(async (q) => {
      const p = await this.#must<Participant>(q, 'participants', id, 'participant');
      const s = await this.#scope(q, a);
      if (!this.#participantVisible(s, p))
        throw forbidden(
          a.role === 'researcher'
            ? `participant '${id}' has not consented; researchers see consented participants only`
            : `participant '${id}' is not in your organisation's trials`,
        );
      await this.#audit(q, a, 'read', 'participant', id);
      return p;
    });
  }

  async listParticipants(
    a: Actor,
    o: ListOptions & { trialId?: string | undefined; homeId?: string | undefined } = {},
  ): Promise<Participant[]> {
    this.#role(a, ['admin', 'coordinator', 'researcher'], 'read participant data');
    return this.db.tx(async (q) => {
      const s = await this.#scope(q, a);
      const w = where([
        ['trial_id', o.trialId],
        ['home_id', o.homeId],
      ]);
      const rows = (await q.all(`SELECT * FROM participants${w.sql} ORDER BY id`, w.params)).map((r) =>
        decode<Participant>('participants', r),
      );
      const items = page(
        rows.filter((p) => this.#participantVisible(s, p)),
        o,
      );
      await this.#audit(q, a, 'read', 'participant', null, {
        filter: { trialId: o.trialId, homeId: o.homeId },
        ids: items.map((p) => p.id),
      });
      return items;
    });
  }

  async updateParticipant(
    a: Actor,
    id: string,
    patch: {
      homeId?: string | undefined;
      enrolledAt?: number | undefined;
      consentStatus?: ConsentStatus | undefined;
      consentScope?: string[] | undefined;
      legalBasis?: LegalBasis | undefined;
    },
  ): Promise<Participant> {
    this.#role(a, ['admin', 'coordinator'], 'change participants');
    return this.#write(async (q) => {
      const cur = await this.#must<Participant>(q, 'participants', id, 'participant');
      const s = await this.#scope(q, a);
      this.#trialInScope(s, cur.trialId, `participant '${id}'`);
      if (cur.withdrawnAt !== null && patch.consentStatus !== undefined && patch.consentStatus !== 'withdrawn')
        throw conflict(
          `participant '${id}' withdrew on ${iso(cur.withdrawnAt)}; consent cannot be changed afterwards (enrol again with a new pseudonym)`,
        );
      if (cur.withdrawnAt === null && patch.consentStatus === 'withdrawn')
        throw badRequest(`consentStatus: use POST /participants/${id}/withdraw to withdraw`);
      if (patch.homeId && patch.homeId !== cur.homeId)
        await this.#checkParticipantPlace(q, s, cur.trialId, patch.homeId, `participant '${id}'`);
      const changed = await update(q, 'participants', { ...cur }, patch, Date.now());
      if (Object.keys(changed).length)
        await this.#audit(
          q,
          a,
          changed.consentStatus || changed.consentScope || changed.legalBasis ? 'consent-change' : 'update',
          'participant',
          id,
          { changed },
        );
      return (await byId<Participant>(q, 'participants', id))!;
    });
  }

  /**
   * Withdrawal: from `at` on, no reading is attributed to the participant (ingest stops tagging);
   * `pastData` says whether what was collected before may still be exported.
   */
  async withdrawParticipant(a: Actor, id: string, body: { at?: number | undefined; pastData: PastData }): Promise<Participant> {
    this.#role(a, ['admin', 'coordinator'], 'withdraw participants');
    return this.#write(async (q) => {
      const cur = await this.#must<Participant>(q, 'participants', id, 'participant');
      this.#trialInScope(await this.#scope(q, a), cur.trialId, `participant '${id}'`);
      if (cur.withdrawnAt !== null) throw conflict(`participant '${id}' already withdrew on ${iso(cur.withdrawnAt)}`);
      const at = body.at ?? Date.now();
      if (at < cur.enrolledAt) throw badRequest(`at: withdrawal (${iso(at)}) cannot be before enrolment (${iso(cur.enrolledAt)})`);
      await q.run("UPDATE participants SET withdrawn_at = ?, consent_status = 'withdrawn', past_data = ?, updated_at = ? WHERE id = ?", [
        at,
        body.pastData,
        Date.now(),
        id,
      ]);
      await this.#audit(q, a, 'withdraw', 'participant', id, { at, pastData: body.pastData, previousConsent: cur.consentStatus });
      return (await byId<Participant>(q, 'participants', id))!;
    });
  }

  // ── absences ──

  async #visibleParticipant(q: Queryable, a: Actor, participantId: string, status = 404): Promise<Participant> {
    const p = await this.#must<Participant>(q, 'participants', participantId, 'participant', status);
    if (!this.#participantVisible(await this.#scope(q, a), p)) throw forbidden(`participant '${participantId}' is not visible to you`);
    return p;
  }

  async createAbsence(
    a: Actor,
    body: { participantId: string; from: number; to?: number | null | undefined; reason: AbsenceReason },
  ): Promise<Absence> {
    this.#role(a, ['admin', 'coordinator'], 'record absences');
    checkInterval('absence', body.from, body.to);
    return this.#write(async (q) => {
      await this.#visibleParticipant(q, a, body.participantId, 400);
      const now = Date.now();
      const ab: Absence = {
        id: newId('abs'),
        participantId: body.participantId,
        from: body.from,
        to: body.to ?? null,
        reason: body.reason,
        createdAt: now,
        updatedAt: now,
      };
      await insert(q, 'absences', { ...ab });
      await this.#audit(q, a, 'create', 'absence', ab.id, { participantId: ab.participantId, from: ab.from, to: ab.to, reason: ab.reason });
      return ab;
    });
  }

  async getAbsence(a: Actor, id: string): Promise<Absence> {
    this.#role(a, ['admin', 'coordinator', 'researcher'], 'read participant data');
    return this.db.tx(async (q) => {
      const ab = await this.#must<Absence>(q, 'absences', id, 'absence');
      await this.#visibleParticipant(q, a, ab.participantId);
      await this.#audit(q, a, 'read', 'absence', id, { participantId: ab.participantId });
      return ab;
    });
  }

  async listAbsences(a: Actor, o: ListOptions & { participantId?: string | undefined } = {}): Promise<Absence[]> {
    this.#role(a, ['admin', 'coordinator', 'researcher'], 'read participant data');
    return this.db.tx(async (q) => {
      const s = await this.#scope(q, a);
      const w = where([['a.participant_id', o.participantId]]);
      const rows = await q.all(
        `SELECT a.*, p.trial_id AS p_trial, p.consent_status AS p_consent FROM absences a JOIN participants p ON p.id = a.participant_id${w.sql} ORDER BY a.from_ts, a.id`,
        w.params,
      );
      const items = page(
        rows
          .filter((r) => (a.role === 'researcher' ? r.p_consent === 'consented' : !s.trials || s.trials.has(String(r.p_trial))))
          .map((r) => decode<Absence>('absences', r)),
        o,
      );
      await this.#audit(q, a, 'read', 'absence', null, { filter: { participantId: o.participantId }, ids: items.map((x) => x.id) });
      return items;
    });
  }

  async updateAbsence(
    a: Actor,
    id: string,
    patch: { from?: number | undefined; to?: number | null | undefined; reason?: AbsenceReason | undefined },
  ): Promise<Absence> {
    this.#role(a, ['admin', 'coordinator'], 'change absences');
    return this.#write(async (q) => {
      const cur = await this.#must<Absence>(q, 'absences', id, 'absence');
      await this.#visibleParticipant(q, a, cur.participantId);
      checkInterval(`absence '${id}'`, patch.from ?? cur.from, patch.to === undefined ? cur.to : patch.to);
      const changed = await update(q, 'absences', { ...cur }, patch, Date.now());
      if (Object.keys(changed).length) await this.#audit(q, a, 'update', 'absence', id, { changed });
      return (await byId<Absence>(q, 'absences', id))!;
    });
  }

  // ── devices ──

  async createDevice(
    a: Actor,
    body: {
      id: string;
      kind: string;
      vendor: string;
      model: string;
      firmware?: string | null | undefined;
      zigbeeAddress?: string | null | undefined;
      serial?: string | null | undefined;
      orgId?: string | undefined;
    },
  ): Promise<Device> {
    this.#role(a, ['admin', 'company'], 'register devices');
    if (!DEVICE_ID_PATTERN.test(body.id))
      throw badRequest(
        `device id '${body.id}' is not valid: it is what the gateway reports as 'dev' (letters, digits and . _ : -, up to 128 characters)`,
      );
    if (!isKind(body.kind)) throw badRequest(`kind '${body.kind}' is not in the device catalogue (${KIND_NAMES.join(', ')})`);
    const orgId = body.orgId ?? (a.role === 'company' ? a.orgId : undefined);
    if (!orgId) throw badRequest('orgId: the owning company is required');
    this.#ownOrg(a, orgId, `device '${body.id}'`);
    return this.#write(async (q) => {
      if (await byId(q, 'devices', body.id)) throw conflict(`device '${body.id}' already exists`);
      await this.#must(q, 'organisations', orgId, 'organisation', 400);
      if (body.zigbeeAddress && (await q.get('SELECT id FROM devices WHERE zigbee_address = ?', [body.zigbeeAddress])))
        throw conflict(`another device already has Zigbee address ${body.zigbeeAddress}`);
      const now = Date.now();
      const d: Device = {
        id: body.id,
        kind: body.kind,
        vendor: body.vendor,
        model: body.model,
        firmware: body.firmware ?? null,
        zigbeeAddress: body.zigbeeAddress ?? null,
        serial: body.serial ?? null,
        orgId,
        createdAt: now,
        updatedAt: now,
      };
      await insert(q, 'devices', { ...d });
      await this.#audit(q, a, 'create', 'device', d.id, { kind: d.kind, vendor: d.vendor, model: d.model, orgId });
      return d;
    });
  }

  async getDevice(a: Actor, id: string): Promise<Device> {
    const d = await this.#must<Device>(this.db, 'devices', id, 'device');
    if (a.role === 'company') this.#ownOrg(a, d.orgId, `device '${id}'`);
    return d;
  }

  async listDevices(a: Actor, o: ListOptions & { orgId?: string | undefined; kind?: string | undefined } = {}): Promise<Device[]> {
    if (a.role === 'company' && o.orgId && o.orgId !== a.orgId) return [];
    const w = where([
      ['org_id', a.role === 'company' ? (a.orgId ?? '') : o.orgId],
      ['kind', o.kind],
    ]);
    return page(
      (await this.db.all(`SELECT * FROM devices${w.sql} ORDER BY id`, w.params)).map((r) => decode<Device>('devices', r)),
      o,
    );
  }

  async updateDevice(
    a: Actor,
    id: string,
    patch: {
      vendor?: string | undefined;
      model?: string | undefined;
      firmware?: string | null | undefined;
      zigbeeAddress?: string | null | undefined;
      serial?: string | null | undefined;
      orgId?: string | undefined;
    },
  ): Promise<Device> {
    this.#role(a, ['admin', 'company'], 'change devices');
    if (a.role !== 'admin' && patch.orgId !== undefined && patch.orgId !== a.orgId)
      throw forbidden('only an admin may hand a device to another organisation');
    return this.#write(async (q) => {
      const cur = await this.#must<Device>(q, 'devices', id, 'device');
      this.#ownOrg(a, cur.orgId, `device '${id}'`);
      if (patch.orgId) await this.#must(q, 'organisations', patch.orgId, 'organisation', 400);
      if (patch.zigbeeAddress && (await q.get('SELECT id FROM devices WHERE zigbee_address = ? AND id <> ?', [patch.zigbeeAddress, id])))
        throw conflict(`another device already has Zigbee address ${patch.zigbeeAddress}`);
      const changed = await update(q, 'devices', { ...cur }, patch, Date.now());
      if (Object.keys(changed).length) await this.#audit(q, a, 'update', 'device', id, { changed });
      return (await byId<Device>(q, 'devices', id))!;
    });
  }

  // ── assignments ──

  /** Rows with what visibility needs: the home's site, the device's owner, the participant's consent. */
  async #assignmentRows(
    q: Queryable,
    filters: [string, Param | undefined][],
  ): Promise<(Assignment & { _site: string; _owner: string; _consent: string | null })[]> {
    const w = where(filters);
    const rows = await q.all(
      `SELECT a.*, h.site_id AS x_site, d.org_id AS x_owner, p.consent_status AS x_consent FROM assignments a JOIN homes h ON h.id = a.home_id JOIN devices d ON d.id = a.device_id LEFT JOIN participants p ON p.id = a.participant_id${w.sql} ORDER BY a.device_id, a.from_ts`,
      w.params,
    );
    return rows.map((r) => ({
      ...decode<Assignment>('assignments', r),
      _site: String(r.x_site),
      _owner: String(r.x_owner),
      _consent: r.x_consent === null ? null : String(r.x_consent),
    }));
  }

  /** Visible → the assignment as this actor may see it (participant hidden from companies, and from researchers unless consented). */
  #assignmentView(s: Scope, r: Assignment & { _site: string; _owner: string; _consent: string | null }): Assignment | null {
    const { _site, _owner, _consent, ...a } = r;
    switch (s.actor.role) {
      case 'admin':
        return a;
      case 'coordinator':
        return s.sites!.has(_site) ? a : null;
      case 'company':
        return _owner === s.actor.orgId ? { ...a, participantId: null } : null;
      case 'researcher':
        return _consent === 'consented' ? a : { ...a, participantId: null };
    }
  }

  async #checkNoOverlap(q: Queryable, deviceId: string, from: number, to: number | null, exceptId?: string): Promise<void> {
    const others = await q.all('SELECT * FROM assignments WHERE device_id = ? ORDER BY from_ts', [deviceId]);
    for (const o of others.map((r) => decode<Assignment>('assignments', r))) {
      if (o.id === exceptId) continue;
      if (o.from < (to ?? Infinity) && from < (o.to ?? Infinity)) {
        throw conflict(
          `device '${deviceId}' is already assigned to home '${o.homeId}' from ${iso(o.from)} to ${iso(o.to)} (assignment ${o.id}); a device is in one home at a time — end that assignment first (or use POST /devices/${deviceId}/move)`,
        );
      }
    }
  }

  async #checkAssignmentTarget(
    q: Queryable,
    s: Scope,
    homeId: string,
    participantId: string | null | undefined,
    what: string,
  ): Promise<void> {
    const home = await this.#must<Home>(q, 'homes', homeId, 'home', 400);
    this.#siteInScope(s, home.siteId, what);
    if (participantId) {
      const p = await this.#must<Participant>(q, 'participants', participantId, 'participant', 400);
      if (p.homeId !== homeId) throw badRequest(`${what}: participant '${participantId}' lives in home '${p.homeId}', not '${homeId}'`);
    }
  }

  async #insertAssignment(
    q: Queryable,
    a: Actor,
    body: { deviceId: string; homeId: string; participantId?: string | null | undefined; from: number; to?: number | null | undefined },
  ): Promise<Assignment> {
    const now = Date.now();
    const asg: Assignment = {
      id: newId('asg'),
      deviceId: body.deviceId,
      homeId: body.homeId,
      participantId: body.participantId ?? null,
      from: body.from,
      to: body.to ?? null,
      createdAt: now,
      updatedAt: now,
    };
    await this.#checkNoOverlap(q, asg.deviceId, asg.from, asg.to);
    await insert(q, 'assignments', { ...asg });
    await this.#audit(q, a, 'create', 'assignment', asg.id, {
      deviceId: asg.deviceId,
      homeId: asg.homeId,
      participantId: asg.participantId,
      from: asg.from,
      to: asg.to,
    });
    return asg;
  }

  async createAssignment(
    a: Actor,
    body: { deviceId: string; homeId: string; participantId?: string | null | undefined; from: number; to?: number | null | undefined },
  ): Promise<Assignment> {
    this.#role(a, ['admin', 'coordinator'], 'assign devices to homes');
    checkInterval('assignment', body.from, body.to);
    return this.#write(async (q) => {
      await this.#must(q, 'devices', body.deviceId, 'device', 400);
      await this.#checkAssignmentTarget(q, await this.#scope(q, a), body.homeId, body.participantId, 'assignment');
      return this.#insertAssignment(q, a, body);
    });
  }

  async getAssignment(a: Actor, id: string): Promise<Assignment> {
    const [row] = await this.#assignmentRows(this.db, [['a.id', id]]);
    if (!row) throw notFound(`assignment '${id}' does not exist`);
    const view = this.#assignmentView(await this.#scope(this.db, a), row);
    if (!view) throw forbidden(`assignment '${id}' is outside what you may see`);
    return view;
  }

  async listAssignments(
    a: Actor,
    o: ListOptions & { deviceId?: string | undefined; homeId?: string | undefined } = {},
  ): Promise<Assignment[]> {
    const s = await this.#scope(this.db, a);
    const rows = await this.#assignmentRows(this.db, [
      ['a.device_id', o.deviceId],
      ['a.home_id', o.homeId],
    ]);
    return page(
      rows.map((r) => this.#assignmentView(s, r)).filter((x): x is Assignment => x !== null),
      o,
    );
  }

  /** A device's assignment history, oldest first. */
  async deviceHistory(a: Actor, deviceId: string): Promise<Assignment[]> {
    await this.getDevice(a, deviceId);
    return this.listAssignments(a, { deviceId, limit: 100_000 });
  }

  async updateAssignment(
    a: Actor,
    id: string,
    patch: { from?: number | undefined; to?: number | null | undefined; participantId?: string | null | undefined },
  ): Promise<Assignment> {
    this.#role(a, ['admin', 'coordinator'], 'change assignments');
    return this.#write(async (q) => {
      const cur = await this.#must<Assignment>(q, 'assignments', id, 'assignment');
      const s = await this.#scope(q, a);
      await this.#checkAssignmentTarget(q, s, cur.homeId, patch.participantId, `assignment '${id}'`);
      const from = patch.from ?? cur.from;
      const to = patch.to === undefined ? cur.to : patch.to;
      checkInterval(`assignment '${id}'`, from, to);
      await this.#checkNoOverlap(q, cur.deviceId, from, to, id);
      const changed = await update(q, 'assignments', { ...cur }, patch, Date.now());
      if (Object.keys(changed).length) await this.#audit(q, a, 'update', 'assignment', id, { changed });
      return (await byId<Assignment>(q, 'assignments', id))!;
    });
  }

  /** Ends the device's open assignment at `at` and starts one in `homeId` from `at`, in one transaction. */
  async moveDevice(
    a: Actor,
    deviceId: string,
    body: { homeId: string; at: number; participantId?: string | null | undefined },
  ): Promise<Assignment> {
    this.#role(a, ['admin', 'coordinator'], 'move devices');
    return this.#write(async (q) => {
      await this.#must(q, 'devices', deviceId, 'device');
      const s = await this.#scope(q, a);
      await this.#checkAssignmentTarget(q, s, body.homeId, body.participantId, `move of device '${deviceId}'`);
      const open = await q.get('SELECT * FROM assignments WHERE device_id = ? AND to_ts IS NULL', [deviceId]);
      if (open) {
        const cur = decode<Assignment>('assignments', open);
        const [row] = await this.#assignmentRows(q, [['a.id', cur.id]]);
        if (!this.#assignmentView(s, row!)) throw forbidden(`device '${deviceId}' is now in a home outside your organisation's trials`);
        if (body.at <= cur.from)
          throw badRequest(`at: the move (${iso(body.at)}) must be after the current assignment started (${iso(cur.from)})`);
        await q.run('UPDATE assignments SET to_ts = ?, updated_at = ? WHERE id = ?', [body.at, Date.now(), cur.id]);
        await this.#audit(q, a, 'update', 'assignment', cur.id, { changed: { to: [null, body.at] }, reason: 'move' });
      }
      return this.#insertAssignment(q, a, { deviceId, homeId: body.homeId, participantId: body.participantId ?? null, from: body.at });
    });
  }

  // ── gateways ──

  #gatewayVisible(s: Scope, g: Gateway): boolean {
    switch (s.actor.role) {
      case 'admin':
        return true;
      case 'coordinator':
        return s.sites!.has(g.siteId);
      case 'company':
        return g.orgId !== null && g.orgId === s.actor.orgId;
      default:
        return false;
    }
  }

  /**
   * Provisions a gateway and returns its MQTT credentials (shown once; only the scrypt hash is
   * kept). An existing, unrevoked gateway is refused unless `rotate`; a revoked one is re-issued.
   * `createSite` (the CLI's `gateway add`) creates a missing site on the fly.
   */
  async createGateway(
    a: Actor,
    body: { siteId: string; gateway: string; homeId?: string | null | undefined; orgId?: string | null | undefined },
    opts: { rotate?: boolean; createSite?: boolean } = {},
  ): Promise<{ gateway: Gateway; credentials: { username: string; password: string } }> {
    this.#role(a, ['admin', 'coordinator'], 'provision gateways');
    checkSlug('site', body.siteId);
    checkSlug('gateway', body.gateway);
    const username = gatewayUsername(body.siteId, body.gateway);
    const password = randomPassword();
    const hash = await hashPassword(password, GENERATED_SECRET_COST); // before the transaction: scrypt takes a few ms
    const gw = await this.#write(async (q) => {
      if (!(await byId(q, 'sites', body.siteId))) {
        if (!opts.createSite) throw badRequest(`site '${body.siteId}' does not exist`);
        const now = Date.now();
        await insert(q, 'sites', {
          id: body.siteId,
          orgId: null,
          name: body.siteId,
          facilities: [],
          description: null,
          createdAt: now,
          updatedAt: now,
        });
        await this.#audit(q, a, 'create', 'site', body.siteId, { reason: 'gateway add' });
      }
      const s = await this.#scope(q, a);
      this.#siteInScope(s, body.siteId, `gateway '${username}'`);
      if (body.homeId) {
        const home = await this.#must<Home>(q, 'homes', body.homeId, 'home', 400);
        if (home.siteId !== body.siteId) throw badRequest(`home '${body.homeId}' is at site '${home.siteId}', not '${body.siteId}'`);
      }
      if (body.orgId) await this.#must(q, 'organisations', body.orgId, 'organisation', 400);
      const existing = await byId<Gateway>(q, 'gateways', username);
      const now = Date.now();
      if (existing) {
        if (existing.revokedAt === null && !opts.rotate)
          throw conflict(
            `gateway '${username}' already exists; rotate its credentials (POST /gateways/${username}/credentials) if its password is lost`,
          );
        await q.run('UPDATE gateways SET password_hash = ?, revoked_at = NULL, updated_at = ? WHERE id = ?', [hash, now, username]);
        const patch: Record<string, unknown> = {};
        if (body.homeId !== undefined) patch.homeId = body.homeId;
        if (body.orgId !== undefined) patch.orgId = body.orgId;
        await update(q, 'gateways', { ...existing }, patch, now);
        await this.#audit(q, a, existing.revokedAt === null ? 'rotate-credentials' : 'reissue', 'gateway', username, patch);
      } else {
        await q.run(
          'INSERT INTO gateways (id, site_id, gateway, home_id, org_id, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
          [username, body.siteId, body.gateway, body.homeId ?? null, body.orgId ?? null, hash, now, now],
        );
        await this.#audit(q, a, 'create', 'gateway', username, {
          siteId: body.siteId,
          gateway: body.gateway,
          homeId: body.homeId ?? null,
          orgId: body.orgId ?? null,
        });
      }
      return (await byId<Gateway>(q, 'gateways', username))!;
    });
    return { gateway: gw, credentials: { username, password } };
  }

  async rotateGateway(a: Actor, id: string): Promise<{ gateway: Gateway; credentials: { username: string; password: string } }> {
    const g = await this.getGateway(a, id);
    this.#role(a, ['admin', 'coordinator'], 'rotate gateway credentials');
    return this.createGateway(a, { siteId: g.siteId, gateway: g.gateway }, { rotate: true });
  }

  async getGateway(a: Actor, id: string): Promise<Gateway> {
    this.#role(a, ['admin', 'coordinator', 'company'], 'read gateways');
    const g = await this.#must<Gateway>(this.db, 'gateways', id, 'gateway');
    if (!this.#gatewayVisible(await this.#scope(this.db, a), g)) throw forbidden(`gateway '${id}' is not yours to see`);
    return g;
  }

  async listGateways(a: Actor, o: ListOptions & { siteId?: string | undefined } = {}): Promise<Gateway[]> {
    this.#role(a, ['admin', 'coordinator', 'company'], 'read gateways');
    const s = await this.#scope(this.db, a);
    const w = where([['site_id', o.siteId]]);
    const rows = (await this.db.all(`SELECT * FROM gateways${w.sql} ORDER BY id`, w.params)).map((r) => decode<Gateway>('gateways', r));
    return page(
      rows.filter((g) => this.#gatewayVisible(s, g)),
      o,
    );
  }

  async updateGateway(
    a: Actor,
    id: string,
    patch: { homeId?: string | null | undefined; orgId?: string | null | undefined },
  ): Promise<Gateway> {
    this.#role(a, ['admin', 'coordinator'], 'change gateways');
    return this.#write(async (q) => {
      const cur = await this.#must<Gateway>(q, 'gateways', id, 'gateway');
      if (!this.#gatewayVisible(await this.#scope(q, a), cur)) throw forbidden(`gateway '${id}' is not yours to change`);
      if (patch.homeId) {
        const home = await this.#must<Home>(q, 'homes', patch.homeId, 'home', 400);
        if (home.siteId !== cur.siteId) throw badRequest(`home '${patch.homeId}' is at site '${home.siteId}', not '${cur.siteId}'`);
      }
      if (patch.orgId) await this.#must(q, 'organisations', patch.orgId, 'organisation', 400);
      const changed = await update(q, 'gateways', { ...cur }, patch, Date.now());
      if (Object.keys(changed).length) await this.#audit(q, a, 'update', 'gateway', id, { changed });
      return (await byId<Gateway>(q, 'gateways', id))!;
    });
  }

  /** Revokes a gateway: refused on its next connect, and disconnected now when the broker runs here. */
  async revokeGateway(a: Actor, id: string): Promise<{ gateway: Gateway; disconnected: number }> {
    this.#role(a, ['admin', 'coordinator', 'company'], 'revoke gateways');
    const gw = await this.#write(async (q) => {
      const cur = await this.#must<Gateway>(q, 'gateways', id, 'gateway');
      if (!this.#gatewayVisible(await this.#scope(q, a), cur)) throw forbidden(`gateway '${id}' is not yours to revoke`);
      if (cur.revokedAt !== null) throw conflict(`gateway '${id}' was already revoked on ${iso(cur.revokedAt)}`);
      const now = Date.now();
      await q.run('UPDATE gateways SET revoked_at = ?, updated_at = ? WHERE id = ?', [now, now, id]);
      await this.#audit(q, a, 'revoke', 'gateway', id);
      return (await byId<Gateway>(q, 'gateways', id))!;
    });
    // After the commit: a reconnect racing this is refused by the credential check.
    const disconnected = this.hooks.disconnect?.(id) ?? 0;
    return { gateway: gw, disconnected };
  }

  /** Asks the gateway to open its Zigbee network for `seconds`; resolves with its reply. */
  async permitJoin(a: Actor, id: string, seconds: number): Promise<unknown> {
    this.#role(a, ['admin', 'coordinator', 'company'], 'open a gateway for pairing');
    const g = await this.getGateway(a, id);
    if (g.revokedAt !== null) throw conflict(`gateway '${id}' is revoked`);
    if (!this.hooks.command)
      throw new ApiError(503, 'commands need the broker in this process (testbed up or testbed broker) with its admin account');
    await this.#write((q) => this.#audit(q, a, 'permit-join', 'gateway', id, { seconds }));
    return this.hooks.command(g.siteId, g.gateway, 'permit_join', { seconds });
  }

  /** For the broker: a gateway's credential record by MQTT username. */
  async gatewayCredential(
    username: string,
  ): Promise<{ site: string; gateway: string; username: string; passwordHash: string; revokedAt: number | null } | undefined> {
    const r = await this.db.get<Row>('SELECT site_id, gateway, id, password_hash, revoked_at FROM gateways WHERE id = ?', [username]);
    return r
      ? {
          site: String(r.site_id),
          gateway: String(r.gateway),
          username: String(r.id),
          passwordHash: String(r.password_hash),
          revokedAt: r.revoked_at === null ? null : Number(r.revoked_at),
        }
      : undefined;
  }

  async touchGateway(username: string, at: number): Promise<void> {
    await this.db.run('UPDATE gateways SET last_seen_at = ? WHERE id = ?', [at, username]);
  }

  // ── users and tokens ──

  async createUser(a: Actor, body: { name: string; role: Role; orgId?: string | null | undefined }): Promise<User> {
    this.#role(a, ['admin'], 'create users');
    if ((body.role === 'coordinator' || body.role === 'company') && !body.orgId)
      throw badRequest(`orgId: a ${body.role} belongs to an organisation`);
    return this.#write(async (q) => {
      if (body.orgId) {
        const org = await this.#must<Organisation>(q, 'organisations', body.orgId, 'organisation', 400);
        if (body.role === 'company' && org.type !== 'company') throw badRequest(`organisation '${org.id}' is a ${org.type}, not a company`);
      }
      const now = Date.now();
      const u: User = {
        id: newId('usr'),
        name: body.name,
        role: body.role,
        orgId: body.orgId ?? null,
        createdAt: now,
        updatedAt: now,
        disabledAt: null,
      };
      await insert(q, 'users', { ...u });
      await this.#audit(q, a, 'create', 'user', u.id, { name: u.name, role: u.role, orgId: u.orgId });
      return u;
    });
  }

  async getUser(a: Actor, id: string): Promise<User> {
    this.#role(a, ['admin'], 'read users');
    return this.#must<User>(this.db, 'users', id, 'user');
  }

  async listUsers(a: Actor, o: ListOptions = {}): Promise<User[]> {
    this.#role(a, ['admin'], 'read users');
    return page(
      (await this.db.all('SELECT * FROM users ORDER BY id')).map((r) => decode<User>('users', r)),
      o,
    );
  }

  async updateUser(a: Actor, id: string, patch: { name?: string | undefined; disabled?: boolean | undefined }): Promise<User> {
    this.#role(a, ['admin'], 'change users');
    return this.#write(async (q) => {
      const cur = await this.#must<User>(q, 'users', id, 'user');
      const p: Record<string, unknown> = { name: patch.name };
      if (patch.disabled !== undefined && patch.disabled !== (cur.disabledAt !== null)) p.disabledAt = patch.disabled ? Date.now() : null;
      const changed = await update(q, 'users', { ...cur }, p, Date.now());
      if (Object.keys(changed).length) await this.#audit(q, a, 'update', 'user', id, { changed });
      return (await byId<User>(q, 'users', id))!;
    });
  }

  async createToken(
    a: Actor,
    userId: string,
    body: { label?: string | null | undefined; expiresAt?: number | null | undefined } = {},
  ): Promise<TokenInfo & { token: string }> {
    this.#role(a, ['admin'], 'issue API tokens');
    const id = newId('tok');
    const secret = randomBytes(32).toString('base64url');
    return this.#write(async (q) => {
      const u = await this.#must<User>(q, 'users', userId, 'user');
      if (u.disabledAt !== null) throw conflict(`user '${userId}' is disabled`);
      const now = Date.now();
      await q.run('INSERT INTO api_tokens (id, user_id, label, secret_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)', [
        id,
        userId,
        body.label ?? null,
        sha256(secret),
        now,
        body.expiresAt ?? null,
      ]);
      await this.#audit(q, a, 'create', 'token', id, { userId, label: body.label ?? null, expiresAt: body.expiresAt ?? null });
      return {
        id,
        userId,
        label: body.label ?? null,
        createdAt: now,
        expiresAt: body.expiresAt ?? null,
        revokedAt: null,
        lastUsedAt: null,
        token: `tb1.${id}.${secret}`,
      };
    });
  }

  async listTokens(a: Actor, userId: string): Promise<TokenInfo[]> {
    this.#role(a, ['admin'], 'read API tokens');
    await this.#must(this.db, 'users', userId, 'user');
    const rows = await this.db.all('SELECT * FROM api_tokens WHERE user_id = ? ORDER BY created_at', [userId]);
    return rows.map(tokenInfo);
  }

  async revokeToken(a: Actor, id: string): Promise<TokenInfo> {
    this.#role(a, ['admin'], 'revoke API tokens');
    return this.#write(async (q) => {
      const row = await q.get('SELECT * FROM api_tokens WHERE id = ?', [id]);
      if (!row) throw notFound(`token '${id}' does not exist`);
      if (row.revoked_at !== null) throw conflict(`token '${id}' is already revoked`);
      await q.run('UPDATE api_tokens SET revoked_at = ? WHERE id = ?', [Date.now(), id]);
      await this.#audit(q, a, 'revoke', 'token', id);
      return tokenInfo((await q.get('SELECT * FROM api_tokens WHERE id = ?', [id]))!);
    });
  }

  /** The actor behind a bearer token, or null (unknown, wrong secret, revoked, expired, user disabled). */
  async authenticate(token: string): Promise<Actor | null> {
    const m = TOKEN_PATTERN.exec(token);
    if (!m) return null;
    const [, id, secret] = m as unknown as [string, string, string];
    const row = await this.db.get<Row>(
      'SELECT t.secret_hash, t.revoked_at, t.expires_at, u.id AS user_id, u.role, u.org_id, u.disabled_at FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.id = ?',
      [id],
    );
    if (!row) return null;
    const want = Buffer.from(String(row.secret_hash), 'hex');
    const got = Buffer.from(sha256(secret), 'hex');
    if (want.length !== got.length || !timingSafeEqual(want, got)) return null;
    const now = Date.now();
    if (row.revoked_at !== null || row.disabled_at !== null || (row.expires_at !== null && Number(row.expires_at) <= now)) return null;
    const last = this.#tokenTouched.get(id);
    if (last === undefined || now - last > 60_000) {
      this.#tokenTouched.set(id, now);
      await this.db.run('UPDATE api_tokens SET last_used_at = ? WHERE id = ?', [now, id]);
    }
    return { id: String(row.user_id), role: row.role as Role, orgId: row.org_id === null ? null : String(row.org_id), tokenId: id };
  }

  // ── audit ──

  async listAudit(
    a: Actor,
    o: ListOptions & {
      resourceType?: string | undefined;
      resourceId?: string | undefined;
      actor?: string | undefined;
      action?: string | undefined;
      since?: number | undefined;
    } = {},
  ): Promise<AuditEntry[]> {
    this.#role(a, ['admin'], 'read the audit log');
    const w = where([
      ['resource_type', o.resourceType],
      ['resource_id', o.resourceId],
      ['actor', o.actor],
      ['action', o.action],
    ]);
    const since = o.since !== undefined ? `${w.sql ? ' AND' : ' WHERE'} at >= ?` : '';
    const rows = await this.db.all(`SELECT * FROM audit_log${w.sql}${since} ORDER BY id LIMIT ? OFFSET ?`, [
      ...w.params,
      ...(o.since !== undefined ? [o.since] : []),
      o.limit ?? 1000,
      o.offset ?? 0,
    ]);
    return rows.map((r) => ({
      id: Number(r.id),
      at: Number(r.at),
      actor: String(r.actor),
      role: String(r.role),
      tokenId: r.token_id === null ? null : String(r.token_id),
      action: String(r.action),
      resourceType: String(r.resource_type),
      resourceId: r.resource_id === null ? null : String(r.resource_id),
      details: JSON.parse(String(r.details)) as Record<string, unknown>,
    }));
  }

  /** Id of the newest audit entry: it moves on every committed write, so it versions the registry. */
  async version(): Promise<number> {
    const r = await this.db.get<{ v: number | null }>('SELECT max(id) AS v FROM audit_log');
    return Number(r?.v ?? 0);
  }
}

function tokenInfo(r: Row): TokenInfo {
  const n = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  return {
    id: String(r.id),
    userId: String(r.user_id),
    label: r.label === null ? null : String(r.label),
    createdAt: Number(r.created_at),
    expiresAt: n(r.expires_at),
    revokedAt: n(r.revoked_at),
    lastUsedAt: n(r.last_used_at),
  };
}

/** The command line acts as an admin, audited under the OS user's name. */
export function cliActor(): Actor {
  return { id: `cli:${process.env.USER ?? process.env.LOGNAME ?? 'unknown'}`, role: 'admin', orgId: null, tokenId: null };
}
