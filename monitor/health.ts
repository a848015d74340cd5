// Device and gateway health, judged only from what arrives at the centre: readings on `up`,
// gateway `state` (retained birth / last will) and `health`. A device's own availability flag is
// never trusted. Each device's expectations come from its kind in the catalogue:
//
//   ok           a reading measured within the last `lateAfterS`
//   late         none for longer than lateAfterS = min(2 × reporting interval, maxSilenceS)
//   silent       none for longer than the kind's maxSilenceS
//   battery-low  reporting, but its last battery report is at or below the threshold
//
// "Measured" is the reading's `ts`, clamped to when it arrived (a gateway clock ahead cannot make
// a device look fresh). A backlog delivered after an outage therefore counts from when each
// reading was measured, as it should.
//
// A gateway is `offline` when its last state is the last will / offline notice, or when it sent
// health before and has now been quiet for 3 health intervals; `degraded` when its outbox is
// growing (three rising depths), the oldest queued reading is older than 10 min, it hit its
// outbox cap, or its radio adapter is down; `online` otherwise; `unknown` before anything arrived.

import { KINDS, type GatewayHealth, type GatewayState, type Kind } from '../devices/index.ts';
import type { MonitorDb } from './db.ts';

export type DeviceStatus = 'ok' | 'late' | 'silent' | 'battery-low';
export type GatewayStatus = 'online' | 'offline' | 'degraded' | 'unknown';
export type SilenceCause = 'gateway-offline' | 'battery-depleted' | 'device-silent';

export interface DeviceState {
  site: string;
  gateway: string;
  device: string;
  kind: Kind;
  lastTs: number;
  lastArrival: number | null;
  lastSeq: number;
  battery: number | null;
}

export interface GatewayTrack {
  site: string;
  gateway: string;
  online: boolean | null;
  stateAt: number | null;
  lastHealth: GatewayHealth | null;
  healthAt: number | null;
  healthEveryMs: number | null;
  depths: number[];
  lastUpAt: number | null;
  /** When it went offline (state or silence), for the alert and completeness. */
  offlineSince: number | null;
}

export interface GatewayHealthView {
  site: string;
  gateway: string;
  status: GatewayStatus;
  reasons: string[];
  since: number | null;
  lastUpAt: number | null;
  lastHealthAt: number | null;
  outboxDepth: number | null;
  outboxOldestAgeS: number | null;
  adapter: string | null;
}

export function reportingOf(kind: Kind): { intervalS: number; lateAfterS: number; silentAfterS: number } {
  const r = KINDS[kind].reporting;
  const intervalS = r.mode === 'heartbeat' ? r.intervalS : r.heartbeatS;
  return { intervalS, lateAfterS: Math.min(2 * intervalS, r.maxSilenceS), silentAfterS: r.maxSilenceS };
}

const DEFAULT_HEALTH_EVERY_MS = 60_000;

export class HealthTracker {
  readonly devices = new Map<string, DeviceState>();
  readonly gateways = new Map<string, GatewayTrack>();
  readonly #db: MonitorDb | null;

  constructor(db: MonitorDb | null) {
    this.#db = db;
  }

  #gw(site: string, gateway: string): GatewayTrack {
    const key = `${site}/${gateway}`;
    let g = this.gateways.get(key);
    if (!g) {
      g = {
        site,
        gateway,
        online: null,
        stateAt: null,
        lastHealth: null,
        healthAt: null,
        healthEveryMs: null,
        depths: [],
        lastUpAt: null,
        offlineSince: null,
      };
      this.gateways.set(key, g);
    }
    return g;
  }

  /** A reading arrived (or was found in the store at start, `arrival` null). Returns the device's state. */
  observeReading(
    site: string,
    gateway: string,
    r: { dev: string; kind: Kind; seq: number; ts: number; q?: { battery?: number } | undefined },
    arrival: number | null,
  ): DeviceState {
    const key = `${site}/${gateway}/${r.dev}`;
    const ts = arrival === null ? r.ts : Math.min(r.ts, arrival);
    let d = this.devices.get(key);
    if (!d) {
      d = { site, gateway, device: r.dev, kind: r.kind, lastTs: ts, lastArrival: arrival, lastSeq: r.seq, battery: null };
      this.devices.set(key, d);
    }
    if (ts >= d.lastTs) {
      d.lastTs = ts;
      d.lastSeq = r.seq;
      if (r.q?.battery !== undefined) d.battery = r.q.battery;
    }
    d.kind = r.kind;
    if (arrival !== null) {
      d.lastArrival = arrival;
      const g = this.#gw(site, gateway);
      g.lastUpAt = arrival;
      // Data flowing proves the link is up, whatever the last retained state said.
      if (g.online === false && (g.stateAt ?? 0) < arrival - 5000) this.#setOnline(g, true, arrival);
    }
    return d;
  }

  observeState(site: string, gateway: string, s: GatewayState, arrival: number): void {
    const g = this.#gw(site, gateway);
    g.stateAt = arrival;
    // The time is the gateway's word: only a plausible epoch (checkState) that is not ahead of arrival is taken.
    const ts = typeof s.ts === 'number' && Number.isSafeInteger(s.ts) && s.ts > 0 ? Math.min(arrival, s.ts) : arrival;
    this.#setOnline(g, s.online, s.online ? arrival : ts);
  }

  observeHealth(site: string, gateway: string, h: GatewayHealth, arrival: number): void {
    const g = this.#gw(site, gateway);
    if (g.healthAt !== null) {
      const gap = arrival - g.healthAt;
      g.healthEveryMs = g.healthEveryMs === null ? gap : Math.round(g.healthEveryMs * 0.7 + gap * 0.3);
    }
    g.healthAt = arrival;
    // Kept without its per-device map: nothing here reads it, and it may hold thousands of entries per gateway.
    const { devices: _devices, ...kept } = h;
    g.lastHealth = kept;
    g.depths = [...g.depths, h.outboxDepth].slice(-3);
    if (g.online !== true) this.#setOnline(g, true, arrival);
  }

  #setOnline(g: GatewayTrack, online: boolean, at: number): void {
    if (g.online === online) return;
    g.online = online;
    g.offlineSince = online ? null : at;
    this.#db?.db
      .prepare('INSERT INTO gateway_log (site, gateway, at, online) VALUES (?, ?, ?, ?)')
      .run(g.site, g.gateway, at, online ? 1 : 0);
  }

  /** Call on every tick: a gateway that sent health and then fell quiet is offline. */
  sweep(now: number): void {
    for (const g of this.gateways.values()) {
      if (g.online !== true || g.healthAt === null) continue;
      const every = Math.max(g.healthEveryMs ?? DEFAULT_HEALTH_EVERY_MS, 1000);
      const lastSign = Math.max(g.healthAt, g.lastUpAt ?? 0);
      if (now - lastSign > 3 * every) this.#setOnline(g, false, lastSign + every);
    }
  }

  gatewayView(g: GatewayTrack, now: number): GatewayHealthView {
    const h = g.lastHealth;
    const reasons: string[] = [];
    let status: GatewayStatus;
    if (g.online === null && g.lastUpAt === null) status = 'unknown';
    else if (g.online === false) {
      status = 'offline';
      reasons.push(
        g.stateAt !== null && g.offlineSince !== null && g.healthAt !== null && g.offlineSince > g.stateAt
          ? 'no health messages for 3 intervals'
          : 'gateway reported offline (last will or clean disconnect)',
      );
    } else {
      status = 'online';
      if (h) {
        const d = g.depths;
        if (d.length === 3 && d[0]! < d[1]! && d[1]! < d[2]!) reasons.push(`outbox growing (${d.join(' → ')})`);
        if ((h.outboxOldestAgeS ?? 0) > 600) reasons.push(`oldest queued reading ${Math.round(h.outboxOldestAgeS! / 60)} min old`);
        if (h.outboxCapHit) reasons.push('outbox cap hit: new readings refused');
        if (h.adapter === 'down') reasons.push('Zigbee adapter down');
      }
      if (reasons.length) status = 'degraded';
    }
    void now;
    return {
      site: g.site,
      gateway: g.gateway,
      status,
      reasons,
      since: status === 'offline' ? g.offlineSince : null,
      lastUpAt: g.lastUpAt,
      lastHealthAt: g.healthAt,
      outboxDepth: h?.outboxDepth ?? null,
      outboxOldestAgeS: h?.outboxOldestAgeS ?? null,
      adapter: h?.adapter ?? null,
    };
  }

  gatewayOf(site: string, gateway: string): GatewayTrack | undefined {
    return this.gateways.get(`${site}/${gateway}`);
  }

  /** Status of one device at `now`, with the likely cause of a silence. */
  deviceStatus(
    d: DeviceState,
    now: number,
    batteryLowPct: number,
  ): { status: DeviceStatus; ageS: number; cause: SilenceCause | null; reason: string | null } {
    const r = reportingOf(d.kind);
    const ageS = Math.max(0, (now - d.lastTs) / 1000);
    let status: DeviceStatus = 'ok';
    if (ageS > r.silentAfterS) status = 'silent';
    else if (ageS > r.lateAfterS) status = 'late';
    else if (d.battery !== null && d.battery <= batteryLowPct) status = 'battery-low';
    if (status === 'ok' || status === 'battery-low')
      return {
        status,
        ageS,
        cause: null,
        reason: status === 'battery-low' ? `battery ${d.battery} % (threshold ${batteryLowPct} %)` : null,
      };
    const g = this.gatewayOf(d.site, d.gateway);
    const since = new Date(d.lastTs).toISOString();
    if (g && g.online === false)
      return {
        status,
        ageS,
        cause: 'gateway-offline',
        reason:
          `gateway ${d.gateway} offline since ${new Date(g.offlineSince ?? d.lastTs).toISOString()}; ` +
          'readings wait in its outbox and will arrive when it reconnects',
      };
    if (d.battery !== null && d.battery <= batteryLowPct)
      return { status, ageS, cause: 'battery-depleted', reason: `no reading since ${since}; last battery ${d.battery} %: probably flat` };
    return {
      status,
      ageS,
      cause: 'device-silent',
      reason:
        `no reading since ${since} while its gateway is online ` +
        `(expected every ${r.intervalS / 60} min; silent after ${r.silentAfterS / 3600} h)`,
    };
  }
}
