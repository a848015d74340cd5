// Alerts: rules evaluated in TypeScript on what arrives, and their lifecycle.
//
//   open ──ack──▶ acknowledged ──resolve──▶ resolved        (staff, or the condition clearing)
//     └──────────────resolve───────────────▶ resolved
//   open and not acknowledged within escalateMinutes[severity] → escalated (once; flagged, re-delivered)
//   any time: staff label it a true or a false alarm (the false-alarm rate is trial evidence)
//
// One alert per condition (`key`: rule + site + gateway + device, or + participant) is open at a
// time; a repeat while it is open is counted on it, not raised again. Every change is an event
// (persisted with an increasing id, so an SSE client can resume with Last-Event-ID) handed to
// the deliverers: MQTT lab/v1/{site}/alerts, server-sent events, webhooks.
//
// These alerts are for a trial's evidence and coordination. They are not a clinical alarm system
// and must not be relied on for anyone's safety.
//
// Seam for Node-RED: `raise()` and `clear()` are the whole contract a rule needs. A coordinator-
// edited flow (subscribing to lab/v1/+/+/up like this module) can raise alerts through the same
// calls over the API later; the built-in rules below would then be switched off per scope with
// `thresholds.rules`.

import { randomBytes } from 'node:crypto';
import type { Reading } from '../devices/index.ts';
import type { MonitorDb } from './db.ts';
import { ApiError } from '../lib/errors.ts';
import type { HealthTracker } from './health.ts';
import type { Maintenance } from './maintenance.ts';
import type { RegistryView } from './registry-view.ts';
import { SEVERITY, clockMin, type RuleName, type Severity, type ThresholdStore, type Thresholds } from './thresholds.ts';

export type AlertStatus = 'open' | 'acknowledged' | 'resolved';
export type AlertEventType = 'opened' | 'acknowledged' | 'escalated' | 'resolved' | 'labelled';

export interface Alert {
  id: string;
  key: string;
  rule: RuleName;
  severity: Severity;
  status: AlertStatus;
  site: string;
  gateway: string | null;
  device: string | null;
  home: string | null;
  participant: string | null;
  message: string;
  openedAt: number;
  measuredAt: number;
  acknowledgedAt: number | null;
  acknowledgedBy: string | null;
  escalatedAt: number | null;
  escalations: number;
  resolvedAt: number | null;
  resolvedBy: string | null;
  label: 'true' | 'false' | null;
  labelledBy: string | null;
  labelledAt: number | null;
  note: string | null;
  details: Record<string, unknown>;
}

export interface AlertEvent {
  id: number;
  type: AlertEventType;
  at: number;
  actor: string | null;
  alert: Alert;
}

export interface AlertQuery {
  status?: AlertStatus | 'active' | undefined;
  site?: string | undefined;
  sites?: Set<string> | null | undefined;
  rule?: RuleName | undefined;
  participant?: string | undefined;
  since?: number | undefined;
  until?: number | undefined;
  limit?: number | undefined;
}

const SYSTEM = 'system:monitor';

function alertId(): string {
  return `alr-${randomBytes(8).toString('hex')}`;
}

function rowToAlert(r: Record<string, unknown>): Alert {
  const n = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  const s = (v: unknown) => (v === null || v === undefined ? null : String(v));
  return {
    id: String(r.id),
    key: String(r.key),
    rule: r.rule as RuleName,
    severity: r.severity as Severity,
    status: r.status as AlertStatus,
    site: String(r.site),
    gateway: s(r.gateway),
    device: s(r.device),
    home: s(r.home),
    participant: s(r.participant),
    message: String(r.message),
    openedAt: Number(r.opened_at),
    measuredAt: Number(r.measured_at),
    acknowledgedAt: n(r.acknowledged_at),
    acknowledgedBy: s(r.acknowledged_by),
    escalatedAt: n(r.escalated_at),
    escalations: Number(r.escalations),
    resolvedAt: n(r.resolved_at),
    resolvedBy: s(r.resolved_by),
    label: s(r.label) as Alert['label'],
    labelledBy: s(r.labelled_by),
    labelledAt: n(r.labelled_at),
    note: s(r.note),
    details: JSON.parse(String(r.details)) as Record<string, unknown>,
  };
}

export interface Raise {
  rule: RuleName;
  site: string;
  gateway?: string | null;
  device?: string | null;
  home?: string | null;
  participant?: string | null;
  message: string;
  measuredAt: number;
  details?: Record<string, unknown>;
  /** Default: rule/site/gateway/device. */
  key?: string;
  /** An event rule (fall): a repeat while open is counted on the open alert. */
  countRepeat?: boolean;
}

export interface AlertEngineOptions {
  db: MonitorDb;
  thresholds: ThresholdStore;
  view: RegistryView;
  health: HealthTracker;
  maintenance: Maintenance;
  clock?: () => number;
  onEvent?: (e: AlertEvent) => void;
}

export class AlertEngine {
  readonly #db: MonitorDb;
  readonly #t: ThresholdStore;
  readonly #view: RegistryView;
  readonly #health: HealthTracker;
  readonly #maint: Maintenance;
  readonly clock: () => number;
  readonly #listeners = new Set<(e: AlertEvent) => void>();
  /** key → id of its alert that is not resolved. */
  readonly #active = new Map<string, string>();
  readonly #seenFalls = new Set<string>();
  /** Per device: when it last reported a drink (measured), and since when it has been wet. */
  readonly lastDrink = new Map<string, number>();
  readonly wetSince = new Map<string, number>();

  constructor(o: AlertEngineOptions) {
    this.#db = o.db;
    this.#t = o.thresholds;
    this.#view = o.view;
    this.#health = o.health;
    this.#maint = o.maintenance;
    this.clock = o.clock ?? Date.now;
    if (o.onEvent) this.#listeners.add(o.onEvent);
    for (const r of this.#db.db.prepare("SELECT id, key FROM alerts WHERE status <> 'resolved'").all() as { id: string; key: string }[])
      this.#active.set(r.key, r.id);
  }

  subscribe(fn: (e: AlertEvent) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  thresholdsFor(site: string): Thresholds {
    return this.#t.forSite(
      site,
      this.#view.trialsOfSite(site).map((t) => t.id),
    );
  }

  // ── lifecycle ──

  get(id: string): Alert | undefined {
    const r = this.#db.db.prepare('SELECT * FROM alerts WHERE id = ?').get(id) as Record<string, unknown> | undefined;
    return r ? rowToAlert(r) : undefined;
  }

  list(q: AlertQuery = {}): Alert[] {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (q.status === 'active') where.push("status <> 'resolved'");
    else if (q.status) where.push('status = ?'), args.push(q.status);
    if (q.site) where.push('site = ?'), args.push(q.site);
    if (q.rule) where.push('rule = ?'), args.push(q.rule);
    if (q.participant) where.push('participant = ?'), args.push(q.participant);
    if (q.since !== undefined) where.push('opened_at >= ?'), args.push(q.since);
    if (q.until !== undefined) where.push('opened_at < ?'), args.push(q.until);
    const rows = this.#db.db
      .prepare(`SELECT * FROM alerts ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY opened_at DESC LIMIT ?`)
      .all(...args, q.limit ?? 1000) as Record<string, unknown>[];
    const all = rows.map(rowToAlert);
    return q.sites ? all.filter((a) => q.sites!.has(a.site)) : all;
  }

  /** Events after `afterId` (SSE resume), oldest first. */
  eventsAfter(afterId: number, limit = 1000): AlertEvent[] {
    const rows = this.#db.db
      .prepare(
        'SELECT e.id AS eid, e.type, e.at, e.actor, a.* FROM alert_events e JOIN alerts a ON a.id = e.alert_id WHERE e.id > ? ORDER BY e.id LIMIT ?',
      )
      .all(afterId, limit) as Record<string, unknown>[];
    return rows.map((r) => ({
      id: Number(r.eid),
      type: r.type as AlertEventType,
      at: Number(r.at),
      actor: r.actor === null ? null : String(r.actor),
      alert: rowToAlert(r),
    }));
  }

  #event(alert: Alert, type: AlertEventType, actor: string | null, at: number): void {
    const id = Number(
      this.#db.db
        .prepare('INSERT INTO alert_events (alert_id, type, at, actor, site) VALUES (?, ?, ?, ?, ?)')
        .run(alert.id, type, at, actor, alert.site).lastInsertRowid,
    );
    const e: AlertEvent = { id, type, at, actor, alert };
    for (const fn of this.#listeners) {
      try {
        fn(e);
      } catch {
        // A failing deliverer must not stop the others.
      }
    }
  }

  /** Raises an alert unless one is open for the same condition (then counts the repeat) or it is suppressed. */
  raise(r: Raise): Alert | null {
    const key = r.key ?? [r.rule, r.site, r.gateway ?? '', r.device ?? ''].join('/');
    const now = this.clock();
    const activeId = this.#active.get(key);
    if (activeId) {
      if (!r.countRepeat) return null;
      this.#db.db
        .prepare(
          "UPDATE alerts SET details = json_set(details, '$.repeats', coalesce(json_extract(details, '$.repeats'), 0) + 1, '$.lastMeasuredAt', ?) WHERE id = ?",
        )
        .run(r.measuredAt, activeId);
      return null;
    }
    const alert: Alert = {
      id: alertId(),
      key,
      rule: r.rule,
      severity: SEVERITY[r.rule],
      status: 'open',
      site: r.site,
      gateway: r.gateway ?? null,
      device: r.device ?? null,
      home: r.home ?? null,
      participant: r.participant ?? null,
      message: r.message,
      openedAt: now,
      measuredAt: r.measuredAt,
      acknowledgedAt: null,
      acknowledgedBy: null,
      escalatedAt: null,
      escalations: 0,
      resolvedAt: null,
      resolvedBy: null,
      label: null,
      labelledBy: null,
      labelledAt: null,
      note: null,
      details: r.details ?? {},
    };
    this.#db.db
      .prepare(
        'INSERT INTO alerts (id, key, rule, severity, status, site, gateway, device, home, participant, message, opened_at, measured_at, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      )
      .run(
        alert.id,
        key,
        alert.rule,
        alert.severity,
        'open',
        alert.site,
        alert.gateway,
        alert.device,
        alert.home,
        alert.participant,
        alert.message,
        now,
        r.measuredAt,
        JSON.stringify(alert.details),
      );
    this.#active.set(key, alert.id);
    this.#event(alert, 'opened', null, now);
    return alert;
  }

  /** The condition is gone: resolves its open alert (automatically). */
  clear(key: string, why: string): void {
    const id = this.#active.get(key);
    if (id) this.resolve(id, SYSTEM, why);
  }

  acknowledge(id: string, actor: string): Alert {
    const a = this.#must(id);
    if (a.status !== 'open') throw new ApiError(409, `alert ${id} is ${a.status}; only an open alert can be acknowledged`);
    const now = this.clock();
    this.#db.db
      .prepare("UPDATE alerts SET status = 'acknowledged', acknowledged_at = ?, acknowledged_by = ? WHERE id = ?")
      .run(now, actor, id);
    const after = this.#must(id);
    this.#event(after, 'acknowledged', actor, now);
    return after;
  }

  resolve(id: string, actor: string, note?: string): Alert {
    const a = this.#must(id);
    if (a.status === 'resolved') throw new ApiError(409, `alert ${id} is already resolved`);
    const now = this.clock();
    this.#db.db
      .prepare("UPDATE alerts SET status = 'resolved', resolved_at = ?, resolved_by = ?, note = coalesce(?, note) WHERE id = ?")
      .run(now, actor, note ?? null, id);
    if (this.#active.get(a.key) === id) this.#active.delete(a.key);
    const after = this.#must(id);
    this.#event(after, 'resolved', actor, now);
    return after;
  }

  label(id: string, actor: string, label: 'true' | 'false', note?: string | null): Alert {
    this.#must(id);
    const now = this.clock();
    this.#db.db
      .prepare('UPDATE alerts SET label = ?, labelled_by = ?, labelled_at = ?, note = coalesce(?, note) WHERE id = ?')
      .run(label, actor, now, note ?? null, id);
    const after = this.#must(id);
    this.#event(after, 'labelled', actor, now);
    return after;
  }

  #must(id: string): Alert {
    const a = this.get(id);
    if (!a) throw new ApiError(404, `alert '${id}' does not exist`);
    return a;
  }

  // ── rules on arrival ──

  #suppressed(
    site: string,
    gateway: string | null,
    device: string | null,
    home: string | null,
    participant: string | null,
    ts: number,
  ): string | null {
    const m = this.#maint.active(site, gateway, device, ts);
    if (m) return `maintenance${m.reason ? `: ${m.reason}` : ''}`;
    const a = this.#view.absentAt(participant, home, ts);
    if (a) return `participant absent (${a.reason})`;
    return null;
  }

  /** Every arriving reading passes here (after the health tracker saw it). */
  onReading(site: string, gateway: string, r: Reading): void {
    if (r.kind === 'fall') {
      if (r.v.fall !== true) return;
      const seen = `${site}/${gateway}/${r.dev}#${r.seq}`;
      if (this.#seenFalls.has(seen)) return; // a resend
      this.#seenFalls.add(seen);
      if (this.#seenFalls.size > 100_000) this.#seenFalls.delete(this.#seenFalls.values().next().value!);
      const t = this.thresholdsFor(site);
      if (!t.rules.includes('fall')) return;
      const who = this.#view.attribute(r.dev, r.ts);
      // Maintenance suppresses a fall (a technician testing the radar); an absence does not (a visitor may fall).
      if (this.#maint.active(site, gateway, r.dev, r.ts)) return;
      this.raise({
        rule: 'fall',
        countRepeat: true,
        site,
        gateway,
        device: r.dev,
        home: who?.home ?? null,
        participant: who?.participant ?? null,
        measuredAt: r.ts,
        message: `Fall reported by ${r.dev}${who?.participant ? ` (participant ${who.participant})` : ''}`,
        details: { seq: r.seq, state: r.v.state ?? null, confidencePct: r.v.confidence_pct ?? null, delayMs: this.clock() - r.ts },
      });
      return;
    }
    const key = `${site}/${gateway}/${r.dev}`;
    if (r.kind === 'hydration' && typeof r.v.intake_ml === 'number' && r.v.intake_ml > 0) {
      if (r.ts > (this.lastDrink.get(key) ?? 0)) this.lastDrink.set(key, r.ts);
      this.clear(`no-drink/${site}/${gateway}/${r.dev}`, 'drank again');
    }
    if (r.kind === 'incontinence') {
      if (r.v.wet === true) {
        if (!this.wetSince.has(key)) this.wetSince.set(key, r.ts);
      } else if (r.v.wet === false) {
        this.wetSince.delete(key);
        this.clear(`wet/${site}/${gateway}/${r.dev}`, 'dry again');
      }
    }
  }

  // ── rules on the clock ──

  tick(now = this.clock()): void {
    this.#health.sweep(now);
    const trialSites = new Map<string, Thresholds>();
    const th = (site: string) => {
      let t = trialSites.get(site);
      if (!t) trialSites.set(site, (t = this.thresholdsFor(site)));
      return t;
    };
    // Gateways offline.
    for (const g of this.#health.gateways.values()) {
      const t = th(g.site);
      const key = `gateway-offline/${g.site}/${g.gateway}/`;
      if (g.online === false && g.offlineSince !== null) {
        if (!t.rules.includes('gateway-offline') || now - g.offlineSince < t.gatewayOfflineMinutes * 60_000) continue;
        const why = this.#suppressed(g.site, g.gateway, null, null, null, now);
        if (why) continue;
        this.raise({
          rule: 'gateway-offline',
          site: g.site,
          gateway: g.gateway,
          measuredAt: g.offlineSince,
          message: `Gateway ${g.site}/${g.gateway} offline since ${new Date(g.offlineSince).toISOString()}`,
        });
      } else if (g.online === true) this.clear(key, 'gateway back online');
    }
    // Devices: silent, battery low, no drink, wet.
    for (const d of this.#health.devices.values()) {
      const t = th(d.site);
      const who = this.#view.attribute(d.device, now);
      const st = this.#health.deviceStatus(d, now, t.batteryLowPct);
      const base = `${d.site}/${d.gateway}/${d.device}`;
      const why = this.#suppressed(d.site, d.gateway, d.device, who?.home ?? null, who?.participant ?? null, now);
      if (st.status === 'silent') {
        // A silent device behind an offline gateway is the gateway's alert, not one per device.
        if (t.rules.includes('device-silent') && !why && st.cause !== 'gateway-offline')
          this.raise({
            rule: 'device-silent',
            site: d.site,
            gateway: d.gateway,
            device: d.device,
            home: who?.home ?? null,
            participant: who?.participant ?? null,
            measuredAt: d.lastTs,
            message: `${d.kind} device ${d.device} silent: ${st.reason}`,
            details: { cause: st.cause, kind: d.kind },
          });
      } else if (st.status !== 'late') this.clear(`device-silent/${base}`, 'reporting again');
      if (d.battery !== null) {
        if (d.battery <= t.batteryLowPct && st.status !== 'silent') {
          if (t.rules.includes('battery-low') && !why)
            this.raise({
              rule: 'battery-low',
              site: d.site,
              gateway: d.gateway,
              device: d.device,
              home: who?.home ?? null,
              participant: who?.participant ?? null,
              measuredAt: d.lastTs,
              message: `Battery of ${d.kind} device ${d.device} at ${d.battery} %`,
              details: { battery: d.battery },
            });
        } else if (d.battery > t.batteryLowPct + 5) this.clear(`battery-low/${base}`, 'battery replaced or recharged');
      }
      if (d.kind === 'hydration' && t.rules.includes('no-drink') && st.status === 'ok' && !why) {
        const local = ((((now + t.utcOffsetMin * 60_000) % 86_400_000) + 86_400_000) % 86_400_000) / 60_000;
        const from = clockMin(t.daytimeFrom);
        const to = clockMin(t.daytimeTo);
        if (local >= from && local < to) {
          const dayStart = now - (local - from) * 60_000;
          const since = Math.max(this.lastDrink.get(base) ?? 0, dayStart);
          if (now - since >= t.noDrinkHours * 3_600_000)
            this.raise({
              rule: 'no-drink',
              site: d.site,
              gateway: d.gateway,
              device: d.device,
              home: who?.home ?? null,
              participant: who?.participant ?? null,
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
          this.raise({
            rule: 'wet',
            site: d.site,
            gateway: d.gateway,
            device: d.device,
            home: who?.home ?? null,
            participant: who?.participant ?? null,
            measuredAt: since,
            key: `wet/${base}`,
            message: `Wet for ${Math.round((now - since) / 60_000)} min (threshold ${t.wetMinutes} min)`,
          });
      }
    }
    // Escalation of open, unacknowledged alerts.
    for (const id of this.#active.values()) {
      const a = this.get(id);
      if (!a || a.status !== 'open' || a.escalatedAt !== null) continue;
      const after = th(a.site).escalateMinutes[a.severity] * 60_000;
      if (now - a.openedAt < after) continue;
      this.#db.db.prepare('UPDATE alerts SET escalated_at = ?, escalations = escalations + 1 WHERE id = ?').run(now, id);
      this.#event(this.#must(id), 'escalated', SYSTEM, now);
    }
  }
}
