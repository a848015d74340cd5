// Alert thresholds: defaults here, overridden per trial, then per site (site wins). Stored as
// partial JSON per scope (`default`, `trial:<id>`, `site:<id>`) in monitor.sqlite; edited over
// the API. This table is also the seam for coordinator-edited rule flows (Node-RED): a flow can
// read and write the same thresholds, or replace a rule's evaluation, without touching ingest.

import { BATTERY_LOW_PCT } from '../devices/index.ts';
import type { MonitorDb } from './db.ts';

export type RuleName = 'fall' | 'no-drink' | 'wet' | 'device-silent' | 'gateway-offline' | 'battery-low';
export const RULES: readonly RuleName[] = ['fall', 'no-drink', 'wet', 'device-silent', 'gateway-offline', 'battery-low'];
export type Severity = 'critical' | 'warning' | 'info';
export const SEVERITY: Record<RuleName, Severity> = {
  fall: 'critical',
  'no-drink': 'warning',
  wet: 'warning',
  'device-silent': 'info',
  'gateway-offline': 'warning',
  'battery-low': 'info',
};

export interface Thresholds {
  /** Rules switched on. */
  rules: RuleName[];
  /** No drink for this many hours in the daytime raises `no-drink`. */
  noDrinkHours: number;
  /** Daytime, local clock "HH:MM" (for no-drink). */
  daytimeFrom: string;
  daytimeTo: string;
  /** Wet continuously for this many minutes raises `wet`. */
  wetMinutes: number;
  /** A gateway offline this long raises `gateway-offline`. */
  gatewayOfflineMinutes: number;
  /** Battery at or below this raises `battery-low` (cleared 5 points above). */
  batteryLowPct: number;
  /** An alert not acknowledged within this many minutes is escalated, per severity. */
  escalateMinutes: Record<Severity, number>;
  /** Offset of the site's local time from UTC, minutes (daytime, local days). */
  utcOffsetMin: number;
}

export const DEFAULT_THRESHOLDS: Thresholds = {
  rules: [...RULES],
  noDrinkHours: 4,
  daytimeFrom: '07:00',
  daytimeTo: '22:00',
  wetMinutes: 30,
  gatewayOfflineMinutes: 10,
  batteryLowPct: BATTERY_LOW_PCT,
  escalateMinutes: { critical: 5, warning: 60, info: 24 * 60 },
  utcOffsetMin: 60,
};

export type ThresholdPatch = Partial<Omit<Thresholds, 'escalateMinutes'>> & { escalateMinutes?: Partial<Record<Severity, number>> };

export function merge(base: Thresholds, patch: ThresholdPatch | undefined): Thresholds {
  if (!patch) return base;
  return { ...base, ...patch, escalateMinutes: { ...base.escalateMinutes, ...(patch.escalateMinutes ?? {}) } } as Thresholds;
}

/** "HH:MM" → minutes after midnight. */
export function clockMin(s: string): number {
  const m = /^(\d\d):(\d\d)$/.exec(s);
  return m ? Number(m[1]) * 60 + Number(m[2]) : 0;
}

export class ThresholdStore {
  readonly #db: MonitorDb;
  #cache = new Map<string, ThresholdPatch>();
  defaults: Thresholds;

  constructor(db: MonitorDb, defaults: Thresholds = DEFAULT_THRESHOLDS) {
    this.#db = db;
    this.defaults = defaults;
    for (const r of db.db.prepare('SELECT scope, body FROM thresholds').all() as { scope: string; body: string }[])
      this.#cache.set(r.scope, JSON.parse(r.body));
  }

  get(scope: string): ThresholdPatch | undefined {
    return this.#cache.get(scope);
  }

  scopes(): Record<string, ThresholdPatch> {
    return Object.fromEntries(this.#cache);
  }

  set(scope: string, patch: ThresholdPatch, by: string): void {
    this.#db.db
      .prepare(
        'INSERT INTO thresholds (scope, body, updated_at, updated_by) VALUES (?, ?, ?, ?) ON CONFLICT (scope) DO UPDATE SET ' +
          'body = excluded.body, updated_at = excluded.updated_at, updated_by = excluded.updated_by',
      )
      .run(scope, JSON.stringify(patch), Date.now(), by);
    this.#cache.set(scope, patch);
  }

  /** Effective thresholds for a site: defaults ⊕ `default` scope ⊕ its trials ⊕ the site. */
  forSite(site: string, trialIds: string[] = []): Thresholds {
    let t = merge(this.defaults, this.#cache.get('default'));
    for (const id of trialIds) t = merge(t, this.#cache.get(`trial:${id}`));
    return merge(t, this.#cache.get(`site:${site}`));
  }
}
