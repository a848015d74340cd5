// Alerts: their lifecycle and events. The rules that raise and clear them are alert-rules.ts.
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
// calls over the API later; the built-in rules (alert-rules.ts) would then be switched off per scope with
// `thresholds.rules`.

import { whereClause } from '../lib/sql.ts';
import { randomBytes } from 'node:crypto';
import type { MonitorDb } from './db.ts';
import { ApiError } from '../lib/errors.ts';
import type { RegistryView } from './registry-view.ts';
import { SEVERITY, type RuleName, type Severity, type ThresholdStore, type Thresholds } from './thresholds.ts';

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
  clock?: () => number;
  onEvent?: (e: AlertEvent) => void;
}

export class AlertEngine {
  readonly #db: MonitorDb;
  readonly #t: ThresholdStore;
  readonly #view: RegistryView;
  readonly clock: () => number;
  readonly #listeners = new Set<(e: AlertEvent) => void>();
  /** key → id of its alert that is not resolved. */
  readonly #active = new Map<string, string>();

  constructor(o: AlertEngineOptions) {
    this.#db = o.db;
    this.#t = o.thresholds;
    this.#view = o.view;
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
    // An empty filter value ('' from `?site=`) filters nothing, as it always has.
    const w = whereClause([
      q.status === 'active' && "status <> 'resolved'",
      q.status !== 'active' && ['status = ?', q.status || undefined],
      ['site = ?', q.site || undefined],
      ['rule = ?', q.rule || undefined],
      ['participant = ?', q.participant || undefined],
      ['opened_at >= ?', q.since],
      ['opened_at < ?', q.until],
      // The caller's scope is part of the query, so LIMIT pages what they may see: filtered after
      // it, another site's alerts could fill the page and hide theirs.
      q.sites ? ['site IN (SELECT value FROM json_each(?))', JSON.stringify([...q.sites])] : false,
    ]);
    const rows = this.#db.db
      .prepare(`SELECT * FROM alerts${w.sql} ORDER BY opened_at DESC LIMIT ?`)
      .all(...w.params, q.limit ?? 1000) as Record<string, unknown>[];
    return rows.map(rowToAlert);
  }

  /** Events after `afterId` (SSE resume), oldest first; `sites` (the caller's scope) and `site` filter before the LIMIT. */
  eventsAfter(afterId: number, limit = 1000, scope: { sites?: Set<string> | null; site?: string | undefined } = {}): AlertEvent[] {
    const w = whereClause([
      ['e.id > ?', afterId],
      ['e.site = ?', scope.site || undefined],
      scope.sites ? ['e.site IN (SELECT value FROM json_each(?))', JSON.stringify([...scope.sites])] : false,
    ]);
    const rows = this.#db.db
      .prepare(
        `SELECT e.id AS eid, e.type, e.at, e.actor, a.* FROM alert_events e JOIN alerts a ON a.id = e.alert_id${w.sql} ` +
          'ORDER BY e.id LIMIT ?',
      )
      .all(...w.params, limit) as Record<string, unknown>[];
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
          "UPDATE alerts SET details = json_set(details, '$.repeats', coalesce(json_extract(details, '$.repeats'), 0) + 1, " +
            "'$.lastMeasuredAt', ?) WHERE id = ?",
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
        'INSERT INTO alerts (id, key, rule, severity, status, site, gateway, device, home, participant, message, opened_at, ' +
          'measured_at, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
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

  /** Escalates each open alert not acknowledged within its severity's escalateMinutes (once). */
  escalate(now: number, thresholdsOf: (site: string) => Thresholds): void {
    for (const id of this.#active.values()) {
      const a = this.get(id);
      if (a?.status !== 'open' || a.escalatedAt !== null) continue;
      if (now - a.openedAt < thresholdsOf(a.site).escalateMinutes[a.severity] * 60_000) continue;
      this.#db.db.prepare('UPDATE alerts SET escalated_at = ?, escalations = escalations + 1 WHERE id = ?').run(now, id);
      this.#event(this.#must(id), 'escalated', SYSTEM, now);
    }
  }
}
