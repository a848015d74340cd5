// Data completeness per participant-day, and loss accounting.
//
// Expected: for every participant, every local day of their enrolment (enrolment → withdrawal or
// now), every device assigned to them or to their home that day, the device's reporting slots
// (its kind's reporting interval, at least 1 h: a climate sensor has 24 a day, an SOS button 6)
// over the part of the day it was assigned — minus absences (the participant's, from the
// registry) and maintenance windows, which are not expected at all.
// Received: slots with at least one reading measured in them (counted by the store, grouped per
// device and day: one aggregate query for the whole period, never row by row).
// Completeness = covered / expected slots. Loss: `seq` is numbered by the gateway per device, so
// a gap in it is readings lost before they reached the store (lost in transit); per device-day
// lost = (max seq − min seq + 1 − readings) + the gap since the previous day's max seq.
//
// Why a slot is missing, per device-day: its gateway was offline (recorded transitions; data
// held in the outbox may still arrive), readings lost in transit (seq gaps), or the device was
// silent (no readings at all, or part of the day).

import { DAY_MS, localDayStart, reportingSlotMs, type DeviceDay, type ReadingStore } from '../ingest/index.ts';
import { isKind, type Kind } from '../devices/index.ts';
import type { MonitorDb } from './db.ts';
import type { Maintenance } from './maintenance.ts';
import type { Access, RAssignment, RParticipant, RegistryView } from './registry-view.ts';

export type GapCause = 'complete' | 'gateway-offline' | 'lost-in-transit' | 'device-silent' | 'partly-silent';

export interface DeviceDayCompleteness {
  device: string;
  kind: string;
  gateway: string | null;
  expectedSlots: number;
  coveredSlots: number;
  received: number;
  lost: number;
  cause: GapCause;
  /** Outcome sums of that device-day (hydration ml, night flushes, bed ms). */
  intakeMl?: number | undefined;
  nightFlushes?: number | undefined;
  bedMs?: number | undefined;
}

export interface ParticipantDay {
  participant: string;
  trial: string;
  site: string;
  home: string;
  /** Local date, YYYY-MM-DD. */
  date: string;
  dayStart: number;
  expectedSlots: number;
  coveredSlots: number;
  completeness: number | null;
  received: number;
  lost: number;
  absentHours: number;
  maintenanceHours: number;
  gatewayOfflineHours: number;
  reasons: string[];
  devices: DeviceDayCompleteness[];
}

export interface CompletenessQuery {
  from: number;
  to: number;
  site?: string | undefined;
  trial?: string | undefined;
  participant?: string | undefined;
  utcOffsetMin: number;
  now: number;
}

type Interval = [number, number];

function overlap(a: Interval, list: Interval[]): number {
  let total = 0;
  // Union of the intersections (windows may overlap each other).
  const cut = list
    .map(([x, y]) => [Math.max(a[0], x), Math.min(a[1], y)] as Interval)
    .filter(([x, y]) => y > x)
    .sort((p, q) => p[0] - q[0]);
  let cur: Interval | null = null;
  for (const iv of cut) {
    if (!cur || iv[0] > cur[1]) {
      if (cur) total += cur[1] - cur[0];
      cur = [...iv];
    } else cur[1] = Math.max(cur[1], iv[1]);
  }
  if (cur) total += cur[1] - cur[0];
  return total;
}

const iso = (dayStart: number, off: number) => new Date(dayStart + off * 60_000).toISOString().slice(0, 10);

export class Completeness {
  readonly #store: ReadingStore;
  readonly #view: RegistryView;
  readonly #maint: Maintenance;
  readonly #db: MonitorDb;

  constructor(store: ReadingStore, view: RegistryView, maint: Maintenance, db: MonitorDb) {
    this.#store = store;
    this.#view = view;
    this.#maint = maint;
    this.#db = db;
  }

  /** Offline intervals of every gateway, from the recorded transitions. */
  gatewayOffline(now: number): Map<string, Interval[]> {
    const out = new Map<string, Interval[]>();
    const open = new Map<string, number>();
    for (const r of this.#db.db.prepare('SELECT site, gateway, at, online FROM gateway_log ORDER BY at').all() as {
      site: string;
      gateway: string;
      at: number;
      online: number;
    }[]) {
      const k = `${r.site}/${r.gateway}`;
      if (!r.online) {
        if (!open.has(k)) open.set(k, Number(r.at));
      } else if (open.has(k)) {
        out.set(k, [...(out.get(k) ?? []), [open.get(k)!, Number(r.at)]]);
        open.delete(k);
      }
    }
    for (const [k, at] of open) out.set(k, [...(out.get(k) ?? []), [at, now]]);
    return out;
  }

  /** Device-days from the store for the period (plus the day before, for seq continuity), keyed device/day. */
  async #deviceDays(
    q: CompletenessQuery,
  ): Promise<{ byKey: Map<string, DeviceDay>; lost: Map<string, number>; home: Map<string, { site: string; gateway: string }> }> {
    const rows = await this.#store.deviceDays({ from: q.from - DAY_MS, to: q.to, utcOffsetMin: q.utcOffsetMin, site: q.site });
    const byKey = new Map<string, DeviceDay>();
    const perDevice = new Map<string, DeviceDay[]>();
    const home = new Map<string, { site: string; gateway: string }>();
    for (const r of rows) {
      const k = `${r.device}/${r.day}`;
      const prev = byKey.get(k);
      // A device seen through two gateways the same day (moved): add up.
      if (prev) {
        prev.readings += r.readings;
        prev.slots += r.slots;
        prev.minSeq = Math.min(prev.minSeq, r.minSeq);
        prev.maxSeq = Math.max(prev.maxSeq, r.maxSeq);
      } else {
        byKey.set(k, { ...r });
      }
      perDevice.set(r.device, [...(perDevice.get(r.device) ?? []), r]);
      home.set(r.device, { site: r.site, gateway: r.gateway });
    }
    const lost = new Map<string, number>();
    for (const [dev, days] of perDevice) {
      days.sort((a, b) => a.day - b.day);
      let prevMax: number | null = null;
      for (const d of days) {
        const inside = Math.max(0, d.maxSeq - d.minSeq + 1 - d.readings);
        const between = prevMax === null ? 0 : Math.max(0, d.minSeq - prevMax - 1);
        lost.set(`${dev}/${d.day}`, (lost.get(`${dev}/${d.day}`) ?? 0) + inside + between);
        prevMax = Math.max(prevMax ?? -Infinity, d.maxSeq);
      }
    }
    return { byKey, lost, home };
  }

  async participantDays(q: CompletenessQuery, access: Access | null): Promise<ParticipantDay[]> {
    const snap = this.#view.snapshot;
    let people: RParticipant[] = snap.participants;
    if (q.participant) people = people.filter((p) => p.id === q.participant);
    if (q.trial) people = people.filter((p) => p.trialId === q.trial);
    if (q.site) people = people.filter((p) => p.siteId === q.site);
    if (access?.sites) people = people.filter((p) => access.sites!.has(p.siteId));
    // Consented and not withdrawn: the withdrawal time is what counts, whatever the status column says.
    if (access?.consentedOnly) people = people.filter((p) => p.consented && p.withdrawnAt === Infinity);
    if (people.length === 0) return [];
    const dd = await this.#deviceDays(q);
    const offline = this.gatewayOffline(q.now);
    // Device spans by participant (personal devices) and by home (shared devices).
    const byPerson = new Map<string, RAssignment[]>();
    const byHome = new Map<string, RAssignment[]>();
    for (const spans of snap.assignments.values())
      for (const a of spans) {
        if (a.participantId) byPerson.set(a.participantId, [...(byPerson.get(a.participantId) ?? []), a]);
        else byHome.set(a.homeId, [...(byHome.get(a.homeId) ?? []), a]);
      }
    const out: ParticipantDay[] = [];
    const end = Math.min(q.to, q.now);
    for (const p of people) {
      const win: Interval = [Math.max(q.from, p.enrolledAt), Math.min(end, p.withdrawnAt)];
      if (win[1] <= win[0]) continue;
      const spans = [...(byPerson.get(p.id) ?? []), ...(byHome.get(p.homeId) ?? [])];
      const absences = (snap.absences.get(p.id) ?? []).map((a) => [a.from, a.to] as Interval);
      const absenceReasons = snap.absences.get(p.id) ?? [];
      for (let day = localDayStart(win[0], q.utcOffsetMin); day < win[1]; day += DAY_MS) {
        const dayWin: Interval = [Math.max(day, win[0]), Math.min(day + DAY_MS, win[1])];
        const pd: ParticipantDay = {
          participant: p.id,
          trial: p.trialId,
          site: p.siteId,
          home: p.homeId,
          date: iso(day, q.utcOffsetMin),
          dayStart: day,
          expectedSlots: 0,
          coveredSlots: 0,
          completeness: null,
          received: 0,
          lost: 0,
          absentHours: overlap(dayWin, absences) / 3_600_000,
          maintenanceHours: 0,
          gatewayOfflineHours: 0,
          reasons: [],
          devices: [],
        };
        let maintMs = 0;
        let offMs = 0;
        for (const s of spans) {
          const iv: Interval = [Math.max(dayWin[0], s.from), Math.min(dayWin[1], s.to)];
          if (iv[1] <= iv[0]) continue;
          const d = dd.byKey.get(`${s.deviceId}/${day}`);
          const loc = dd.home.get(s.deviceId);
          const kindName = d?.kind ?? snap.deviceKind.get(s.deviceId) ?? '';
          if (!isKind(kindName)) continue;
          const kind: Kind = kindName;
          const site = loc?.site ?? p.siteId;
          const gw = loc?.gateway ?? null;
          const maint = this.#maint.intervals(site, gw, s.deviceId, iv[0], iv[1]);
          const excluded = overlap(iv, [...absences, ...maint]);
          maintMs = Math.max(maintMs, overlap(iv, maint));
          const slotMs = reportingSlotMs(kind);
          // Whole slots only: a slot cut by enrolment, an absence edge or "now" is not expected.
          const expected = Math.max(0, Math.floor((iv[1] - iv[0] - excluded) / slotMs));
          const covered = Math.min(expected, d?.slots ?? 0);
          const lost = dd.lost.get(`${s.deviceId}/${day}`) ?? 0;
          const offIv = gw ? (offline.get(`${site}/${gw}`) ?? []) : [];
          const off = overlap(iv, offIv);
          offMs = Math.max(offMs, off);
          let cause: GapCause = 'complete';
          if (covered < expected) {
            const stillOffline = offIv.some(([, b]) => b >= q.now && off > 0);
            cause =
              off > 0 && (stillOffline || !d) ? 'gateway-offline' : lost > 0 ? 'lost-in-transit' : !d ? 'device-silent' : 'partly-silent';
            const missing = expected - covered;
            const text: Record<GapCause, string> = {
              complete: '',
              'gateway-offline':
                `gateway ${gw} offline ${(off / 3_600_000).toFixed(1)} h` +
                (stillOffline ? ' and still offline: readings wait in its outbox' : ''),
              'lost-in-transit': `${lost} reading${lost === 1 ? '' : 's'} lost in transit (seq gaps)`,
              'device-silent': 'device silent all day',
              'partly-silent': 'device silent part of the day',
            };
            pd.reasons.push(`${kind} ${s.deviceId}: ${missing} of ${expected} slots missing — ${text[cause]}`);
          } else if (lost > 0)
            pd.reasons.push(`${kind} ${s.deviceId}: ${lost} reading${lost === 1 ? '' : 's'} lost in transit (seq gaps), no slot empty`);
          pd.expectedSlots += expected;
          pd.coveredSlots += covered;
          pd.received += d?.readings ?? 0;
          pd.lost += lost;
          pd.devices.push({
            device: s.deviceId,
            kind,
            gateway: gw,
            expectedSlots: expected,
            coveredSlots: covered,
            received: d?.readings ?? 0,
            lost,
            cause,
            intakeMl: d?.intakeMl,
            nightFlushes: d?.nightFlushes,
            bedMs: d?.bedMs,
          });
        }
        pd.maintenanceHours = maintMs / 3_600_000;
        pd.gatewayOfflineHours = offMs / 3_600_000;
        if (pd.absentHours > 0) {
          const reasons = [...new Set(absenceReasons.filter((a) => a.from < dayWin[1] && dayWin[0] < a.to).map((a) => a.reason))];
          pd.reasons.push(`absent ${pd.absentHours.toFixed(1)} h (${reasons.join(', ')}): not expected`);
        }
        if (pd.maintenanceHours > 0) pd.reasons.push(`maintenance ${pd.maintenanceHours.toFixed(1)} h: not expected`);
        if (pd.devices.length === 0) pd.reasons.push('no devices assigned');
        pd.completeness = pd.expectedSlots > 0 ? pd.coveredSlots / pd.expectedSlots : null;
        out.push(pd);
      }
    }
    return out;
  }

  /** Loss accounting per device over a period: produced (seq span), stored, lost; per day too. */
  async loss(
    q: CompletenessQuery,
    access: Access | null,
  ): Promise<
    {
      site: string;
      gateway: string;
      device: string;
      kind: string;
      received: number;
      lost: number;
      firstSeq: number;
      lastSeq: number;
      days: { date: string; received: number; lost: number }[];
    }[]
  > {
    const rows = await this.#store.deviceDays({ from: q.from, to: q.to, utcOffsetMin: q.utcOffsetMin, site: q.site });
    const snap = this.#view.snapshot;
    const by = new Map<string, DeviceDay[]>();
    for (const r of rows) {
      if (access?.sites && !access.sites.has(r.site)) continue;
      if (
        access?.org !== null &&
        access?.org !== undefined &&
        snap.deviceOrg.get(r.device) !== access.org &&
        snap.gatewayOrg.get(`${r.site}/${r.gateway}`) !== access.org
      )
        continue;
      const k = `${r.site}/${r.gateway}/${r.device}`;
      by.set(k, [...(by.get(k) ?? []), r]);
    }
    return [...by.values()].map((days) => {
      days.sort((a, b) => a.day - b.day);
      let prevMax: number | null = null;
      const perDay = days.map((d) => {
        const lost = Math.max(0, d.maxSeq - d.minSeq + 1 - d.readings) + (prevMax === null ? 0 : Math.max(0, d.minSeq - prevMax - 1));
        prevMax = Math.max(prevMax ?? -Infinity, d.maxSeq);
        return { date: iso(d.day, q.utcOffsetMin), received: d.readings, lost };
      });
      const f = days[0]!;
      const received = days.reduce((a, d) => a + d.readings, 0);
      const firstSeq = Math.min(...days.map((d) => d.minSeq));
      const lastSeq = Math.max(...days.map((d) => d.maxSeq));
      return {
        site: f.site,
        gateway: f.gateway,
        device: f.device,
        kind: f.kind,
        received,
        lost: Math.max(0, lastSeq - firstSeq + 1 - received),
        firstSeq,
        lastSeq,
        days: perDay,
      };
    });
  }
}

/**
 * Participant-days with their sum over the period. Without `detail`, each day lists only the
 * devices that explain a gap (not complete, or with readings lost in transit).
 */
export function completenessReport(days: ParticipantDay[], period: { from: number; to: number }, detail: boolean) {
  const sum = (pick: (d: ParticipantDay) => number) => days.reduce((a, d) => a + pick(d), 0);
  const expectedSlots = sum((d) => d.expectedSlots);
  const coveredSlots = sum((d) => d.coveredSlots);
  return {
    ...period,
    summary: {
      participantDays: days.length,
      expectedSlots,
      coveredSlots,
      completeness: expectedSlots ? coveredSlots / expectedSlots : null,
      received: sum((d) => d.received),
      lost: sum((d) => d.lost),
    },
    days: detail ? days : days.map((d) => ({ ...d, devices: d.devices.filter((v) => v.cause !== 'complete' || v.lost > 0) })),
  };
}
