// What monitoring needs of the trial registry, as an in-memory snapshot reloaded when the
// registry's version (its newest audit id) moves: who is enrolled where and when, absences,
// which device was in which home for whom, device owners, trials and their sites. Read with plain
// SELECTs on the registry's database (SQLite or PostgreSQL), never through the audited API:
// monitoring reads every few seconds, and those reads are not a person looking at participant data.

import { type Database, registryVersionOf } from '../registry/index.ts';
import type { Actor } from '../registry/index.ts';

export interface RParticipant {
  id: string;
  trialId: string;
  homeId: string;
  siteId: string;
  enrolledAt: number;
  withdrawnAt: number;
  consented: boolean;
}
export interface RAbsence {
  participantId: string;
  from: number;
  to: number;
  reason: string;
}
export interface RAssignment {
  deviceId: string;
  homeId: string;
  participantId: string | null;
  from: number;
  to: number;
}
export interface RTrial {
  id: string;
  orgId: string;
  startAt: number;
  endAt: number;
  siteIds: string[];
}

export interface Snapshot {
  version: number;
  participants: RParticipant[];
  byHome: Map<string, RParticipant[]>;
  byId: Map<string, RParticipant>;
  absences: Map<string, RAbsence[]>;
  assignments: Map<string, RAssignment[]>;
  homeSite: Map<string, string>;
  deviceOrg: Map<string, string>;
  deviceKind: Map<string, string>;
  gatewayOrg: Map<string, string>;
  siteOrg: Map<string, string | null>;
  trials: RTrial[];
}

/** What one caller may see: sites (null = all), devices of one organisation (company), consented participants only (researcher). */
export interface Access {
  actor: Actor;
  sites: Set<string> | null;
  org: string | null;
  consentedOnly: boolean;
  participants: boolean;
}

const num = (v: unknown, dflt = Infinity) => (v === null || v === undefined ? dflt : Number(v));

export class RegistryView {
  readonly db: Database | null;
  #snap: Snapshot = empty();
  #timer: NodeJS.Timeout | undefined;
  onError: (err: unknown) => void = () => undefined;

  constructor(db: Database | null) {
    this.db = db;
  }

  get snapshot(): Snapshot {
    return this.#snap;
  }

  async start(pollMs = 2000): Promise<void> {
    await this.refresh();
    this.#timer = setInterval(() => void this.poll(), pollMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  async poll(): Promise<void> {
    if (!this.db) return;
    try {
      if ((await registryVersionOf(this.db)) !== this.#snap.version) await this.refresh();
    } catch (err) {
      this.onError(err);
    }
  }

  async refresh(): Promise<void> {
    if (!this.db) return;
    const rows = await this.db.tx(async (q) => ({
      version: await registryVersionOf(q),
      participants: await q.all(
        'SELECT p.id, p.trial_id, p.home_id, h.site_id, p.enrolled_at, p.withdrawn_at, p.consent_status ' +
          'FROM participants p JOIN homes h ON h.id = p.home_id ORDER BY p.id',
      ),
      absences: await q.all('SELECT participant_id, from_ts, to_ts, reason FROM absences ORDER BY participant_id, from_ts'),
      assignments: await q.all('SELECT device_id, home_id, participant_id, from_ts, to_ts FROM assignments ORDER BY device_id, from_ts'),
      homes: await q.all('SELECT id, site_id FROM homes'),
      devices: await q.all('SELECT id, org_id, kind FROM devices'),
      gateways: await q.all('SELECT site_id, gateway, org_id FROM gateways'),
      sites: await q.all('SELECT id, org_id FROM sites'),
      trials: await q.all('SELECT id, org_id, start_at, end_at FROM trials'),
      trialSites: await q.all('SELECT trial_id, site_id FROM trial_sites'),
    }));
    const s = empty();
    s.version = rows.version;
    for (const r of rows.participants) {
      const p: RParticipant = {
        id: String(r.id),
        trialId: String(r.trial_id),
        homeId: String(r.home_id),
        siteId: String(r.site_id),
        enrolledAt: Number(r.enrolled_at),
        withdrawnAt: num(r.withdrawn_at),
        consented: r.consent_status === 'consented',
      };
      s.participants.push(p);
      s.byId.set(p.id, p);
      s.byHome.set(p.homeId, [...(s.byHome.get(p.homeId) ?? []), p]);
    }
    for (const r of rows.absences) {
      const a: RAbsence = { participantId: String(r.participant_id), from: Number(r.from_ts), to: num(r.to_ts), reason: String(r.reason) };
      s.absences.set(a.participantId, [...(s.absences.get(a.participantId) ?? []), a]);
    }
    for (const r of rows.assignments) {
      const a: RAssignment = {
        deviceId: String(r.device_id),
        homeId: String(r.home_id),
        participantId: r.participant_id === null ? null : String(r.participant_id),
        from: Number(r.from_ts),
        to: num(r.to_ts),
      };
      s.assignments.set(a.deviceId, [...(s.assignments.get(a.deviceId) ?? []), a]);
    }
    for (const r of rows.homes) s.homeSite.set(String(r.id), String(r.site_id));
    for (const r of rows.devices) {
      s.deviceOrg.set(String(r.id), String(r.org_id));
      s.deviceKind.set(String(r.id), String(r.kind));
    }
    for (const r of rows.gateways) if (r.org_id !== null) s.gatewayOrg.set(`${r.site_id}/${r.gateway}`, String(r.org_id));
    for (const r of rows.sites) s.siteOrg.set(String(r.id), r.org_id === null ? null : String(r.org_id));
    const ts = new Map<string, string[]>();
    for (const r of rows.trialSites) ts.set(String(r.trial_id), [...(ts.get(String(r.trial_id)) ?? []), String(r.site_id)]);
    for (const r of rows.trials)
      s.trials.push({
        id: String(r.id),
        orgId: String(r.org_id),
        startAt: Number(r.start_at),
        endAt: num(r.end_at),
        siteIds: ts.get(String(r.id)) ?? [],
      });
    this.#snap = s;
  }

  /**
   * Home and participant of a device at `ts` (the registry's attribution rule: named participant,
   * else the only one enrolled in the home).
   */
  attribute(device: string, ts: number): { home: string; participant: string | null } | null {
    const spans = this.#snap.assignments.get(device);
    const span = spans?.find((a) => a.from <= ts && ts < a.to);
    if (!span) return null;
    const active = (p: RParticipant | undefined) => p !== undefined && p.enrolledAt <= ts && ts < p.withdrawnAt;
    if (span.participantId)
      return { home: span.homeId, participant: active(this.#snap.byId.get(span.participantId)) ? span.participantId : null };
    const here = (this.#snap.byHome.get(span.homeId) ?? []).filter(active);
    return { home: span.homeId, participant: here.length === 1 ? here[0]!.id : null };
  }

  /** The absence covering `ts` for a participant, or for the only residents of a home. */
  absentAt(participant: string | null, home: string | null, ts: number): RAbsence | null {
    const ids = participant
      ? [participant]
      : home
        ? (this.#snap.byHome.get(home) ?? []).filter((p) => p.enrolledAt <= ts && ts < p.withdrawnAt).map((p) => p.id)
        : [];
    if (ids.length === 0) return null;
    let found: RAbsence | null = null;
    for (const id of ids) {
      const a = (this.#snap.absences.get(id) ?? []).find((x) => x.from <= ts && ts < x.to);
      if (!a) return null; // someone in the home is there
      found = a;
    }
    return found;
  }

  /** The trials a site takes part in. */
  trialsOfSite(site: string): RTrial[] {
    return this.#snap.trials.filter((t) => t.siteIds.includes(site));
  }

  /** The sites where an organisation operates something: a gateway, or a device ever assigned to a home there. */
  operatedSites(org: string): Set<string> {
    const s = this.#snap;
    const sites = new Set<string>();
    for (const [key, o] of s.gatewayOrg) if (o === org) sites.add(key.slice(0, key.indexOf('/')));
    for (const [device, spans] of s.assignments)
      if (s.deviceOrg.get(device) === org)
        for (const a of spans) {
          const site = s.homeSite.get(a.homeId);
          if (site) sites.add(site);
        }
    return sites;
  }

  /** What an actor may see (mirrors the registry's rules: coordinator = their organisation's trials' sites and owned sites). */
  access(actor: Actor): Access {
    const base = { actor, sites: null as Set<string> | null, org: null as string | null, consentedOnly: false, participants: true };
    if (actor.role === 'admin') return base;
    if (actor.role === 'researcher') return { ...base, consentedOnly: true };
    if (actor.role === 'company') return { ...base, org: actor.orgId ?? '', participants: false };
    const org = actor.orgId ?? '';
    const sites = new Set<string>();
    for (const [id, o] of this.#snap.siteOrg) if (o === org) sites.add(id);
    for (const t of this.#snap.trials) if (t.orgId === org) for (const s of t.siteIds) sites.add(s);
    return { ...base, sites };
  }
}

function empty(): Snapshot {
  return {
    version: -1,
    participants: [],
    byHome: new Map(),
    byId: new Map(),
    absences: new Map(),
    assignments: new Map(),
    homeSite: new Map(),
    deviceOrg: new Map(),
    deviceKind: new Map(),
    gatewayOrg: new Map(),
    siteOrg: new Map(),
    trials: [],
  };
}
