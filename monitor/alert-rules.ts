// The built-in alert rules, evaluated in TypeScript on what arrives and on the clock. They only
// call the engine's raise() and clear() (monitor/alerts.ts), the same contract a coordinator-edited
// flow would use; each can be switched off per scope with `thresholds.rules`.
//
//   on arrival  fall (once per reading: a resend is not a second fall); a drink clears no-drink;
//               dry again clears wet
//   on the clock gateway offline, device silent, battery low, no drink in the daytime, wet too long;
//               then escalation of open alerts nobody acknowledged
//
// Maintenance suppresses every rule; an absent participant suppresses all but a fall.

import type { Reading } from '../devices/index.ts';
import type { AlertEngine, Raise } from './alerts.ts';
import type { DeviceState, GatewayTrack, HealthTracker } from './health.ts';
import { type Maintenance, maintenanceNote } from './maintenance.ts';
import type { RegistryView } from './registry-view.ts';
import { clockMin, type Thresholds } from './thresholds.ts';

export interface AlertRulesOptions {
  engine: AlertEngine;
  view: RegistryView;
  health: HealthTracker;
  maintenance: Maintenance;
  /** A reading measured longer ago than this when it arrives opens no alert (default 24 h; lib/settings.ts). */
  pastWindowMs?: number | undefined;
}

export class AlertRules {
  readonly #engine: AlertEngine;
  readonly #view: RegistryView;
  readonly #health: HealthTracker;
  readonly #maint: Maintenance;
  readonly #pastMs: number;
  readonly #seenFalls = new Set<string>();
  /** Per device: when it last reported a drink (measured), and since when it has been wet. */
  readonly lastDrink = new Map<string, number>();
  readonly wetSince = new Map<string, number>();

  constructor(o: AlertRulesOptions) {
    this.#engine = o.engine;
    this.#view = o.view;
    this.#health = o.health;
    this.#maint = o.maintenance;
    this.#pastMs = o.pastWindowMs ?? 86_400_000;
  }

  /**
   * Too old to open an alert: a backlog or a replay of readings far in the past (a gateway's
   * clock set back, thousands of invented ids) must not open alerts in bulk. Clearing still applies.
   */
  #stale(ts: number): boolean {
    return this.#engine.clock() - ts > this.#pastMs;
  }

  #suppressed(
    site: string,
    gateway: string | null,
    device: string | null,
    home: string | null,
    participant: string | null,
    ts: number,
  ): string | null {
    const m = this.#maint.active(site, gateway, device, ts);
    if (m) return maintenanceNote(m);
    const a = this.#view.absentAt(participant, home, ts);
    if (a) return `participant absent (${a.reason})`;
    return null;
  }

  /** Every arriving reading passes here (after the health tracker saw it). */
  onReading(site: string, gateway: string, r: Reading): void {
    if (r.kind === 'fall') {
      if (r.v.fall !== true) return;
      const seen = `${site}/${gateway}/${r.dev}#${r.seq}`;
      if (this.#seenFalls.has(seen) || this.#stale(r.ts)) return; // a resend, or too old to alarm anyone
      this.#seenFalls.add(seen);
      if (this.#seenFalls.size > 100_000) this.#seenFalls.delete(this.#seenFalls.values().next().value!);
      const t = this.#engine.thresholdsFor(site);
      if (!t.rules.includes('fall')) return;
      const who = this.#view.attribute(r.dev, r.ts);
      // Maintenance suppresses a fall (a technician testing the radar); an absence does not (a visitor may fall).
      if (this.#maint.active(site, gateway, r.dev, r.ts)) return;
      this.#engine.raise({
        rule: 'fall',
        countRepeat: true,
        site,
        gateway,
        device: r.dev,
        home: who?.home ?? null,
        participant: who?.participant ?? null,
        measuredAt: r.ts,
        message: `Fall reported by ${r.dev}${who?.participant ? ` (participant ${who.participant})` : ''}`,
        details: { seq: r.seq, state: r.v.state ?? null, confidencePct: r.v.confidence_pct ?? null, delayMs: this.#engine.clock() - r.ts },
      });
      return;
    }
    const key = `${site}/${gateway}/${r.dev}`;
    if (r.kind === 'hydration' && typeof r.v.intake_ml === 'number' && r.v.intake_ml > 0) {
      if (r.ts > (this.lastDrink.get(key) ?? 0)) this.lastDrink.set(key, r.ts);
      this.#engine.clear(`no-drink/${site}/${gateway}/${r.dev}`, 'drank again');
    }
    if (r.kind === 'incontinence') {
      if (r.v.wet === true) {
        if (!this.wetSince.has(key) && !this.#stale(r.ts)) this.wetSince.set(key, r.ts);
      } else if (r.v.wet === false) {
        this.wetSince.delete(key);
        this.#engine.clear(`wet/${site}/${gateway}/${r.dev}`, 'dry again');
      }
    }
  }

  // ── rules on the clock ──

  tick(now = this.#engine.clock()): void {
    this.#health.sweep(now);
    const trialSites = new Map<string, Thresholds>();
    const th = (site: string) => {
      let t = trialSites.get(site);
      if (!t) {
        t = this.#engine.thresholdsFor(site);
        trialSites.set(site, t);
      }
      return t;
    };
    // Gateways offline. Each gateway and device is judged on its own (#isolated): one that cannot be
    // judged (a bug, an unforeseen value from a gateway) must not stop the rules for every other site.
    for (const g of this.#health.gateways.values())
      this.#isolated(`gateway ${g.site}/${g.gateway}`, () => this.#gatewayRules(g, th(g.site), now));
    for (const d of this.#health.devices.values())
      this.#isolated(`device ${d.site}/${d.gateway}/${d.device}`, () => this.#deviceRules(d, th(d.site), now));
    this.#engine.escalate(now, th);
  }

  /** Errors of single gateways or devices in tick(), counted and reported, never thrown. */
  tickErrors = 0;
  onTickError: ((what: string, err: unknown) => void) | undefined;

  #isolated(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.tickErrors++;
      this.onTickError?.(what, err);
    }
  }

  #gatewayRules(g: GatewayTrack, t: Thresholds, now: number): void {
    const key = `gateway-offline/${g.site}/${g.gateway}/`;
    if (g.online === false && g.offlineSince !== null) {
      if (!t.rules.includes('gateway-offline') || now - g.offlineSince < t.gatewayOfflineMinutes * 60_000) return;
      if (this.#suppressed(g.site, g.gateway, null, null, null, now)) return;
      this.#engine.raise({
        rule: 'gateway-offline',
        site: g.site,
        gateway: g.gateway,
        measuredAt: g.offlineSince,
        message: `Gateway ${g.site}/${g.gateway} offline since ${new Date(g.offlineSince).toISOString()}`,
      });
    } else if (g.online === true) this.#engine.clear(key, 'gateway back online');
  }

  /** Devices: silent, battery low, no drink, wet. */
  #deviceRules(d: DeviceState, t: Thresholds, now: number): void {
    const who = this.#view.attribute(d.device, now);
    const st = this.#health.deviceStatus(d, now, t.batteryLowPct);
    const base = `${d.site}/${d.gateway}/${d.device}`;
    const why = this.#suppressed(d.site, d.gateway, d.device, who?.home ?? null, who?.participant ?? null, now);
    // Every device alert names the device, its home and its participant at the time.
    const raise = (r: Pick<Raise, 'rule' | 'measuredAt' | 'message' | 'key' | 'details'>) =>
      this.#engine.raise({
        site: d.site,
        gateway: d.gateway,
        device: d.device,
        home: who?.home ?? null,
        participant: who?.participant ?? null,
        ...r,
      });
    if (st.status === 'silent') {
      // A silent device behind an offline gateway is the gateway's alert, not one per device.
      // Nor for a device that never reported anything recent: it arrived already silent (a replay).
      const arrivedStale = d.lastArrival !== null && d.lastArrival - d.lastTs > this.#pastMs;
      if (t.rules.includes('device-silent') && !why && st.cause !== 'gateway-offline' && !arrivedStale)
        raise({
          rule: 'device-silent',
          measuredAt: d.lastTs,
          message: `${d.kind} device ${d.device} silent: ${st.reason}`,
          details: { cause: st.cause, kind: d.kind },
        });
    } else if (st.status !== 'late') this.#engine.clear(`device-silent/${base}`, 'reporting again');
    if (d.battery !== null) {
      if (d.battery <= t.batteryLowPct && st.status !== 'silent') {
        if (t.rules.includes('battery-low') && !why)
          raise({
            rule: 'battery-low',
            measuredAt: d.lastTs,
            message: `Battery of ${d.kind} device ${d.device} at ${d.battery} %`,
            details: { battery: d.battery },
          });
      } else if (d.battery > t.batteryLowPct + 5) this.#engine.clear(`battery-low/${base}`, 'battery replaced or recharged');
    }
    if (d.kind === 'hydration' && t.rules.includes('no-drink') && st.status === 'ok' && !why) {
      const local = ((((now + t.utcOffsetMin * 60_000) % 86_400_000) + 86_400_000) % 86_400_000) / 60_000;
      const from = clockMin(t.daytimeFrom);
      const to = clockMin(t.daytimeTo);
      if (local >= from && local < to) {
        const dayStart = now - (local - from) * 60_000;
        const since = Math.max(this.lastDrink.get(base) ?? 0, dayStart);
        if (now - since >= t.noDrinkHours * 3_600_000)
          raise({
            rule: 'no-drink',
            measuredAt: since,
            key: `no-drink/${base}`,
            message: `No drink for ${((now - since) / 3_600_000).toFixed(1)} h in the daytime (threshold ${t.noDrinkHours} h)`,
            details: { lastDrinkAt: this.lastDrink.get(base) ?? null },
          });
      }
    }
    if (d.kind === 'incontinence' && t.rules.includes('wet') && !why) {
      const since = this.wetSince.get(base);
      if (since !== undefined && now - since >= t.wetMinutes * 60_000)
        raise({
          rule: 'wet',
          measuredAt: since,
          key: `wet/${base}`,
          message: `Wet for ${Math.round((now - since) / 60_000)} min (threshold ${t.wetMinutes} min)`,
        });
    }
  }
}
