// Maintenance windows: a site, one gateway or one device is being worked on between two instants.
// Inside a window alarms are suppressed and completeness does not expect data.

import type { MonitorDb } from './db.ts';

export interface MaintenanceWindow {
  id: number;
  site: string;
  gateway: string | null;
  device: string | null;
  from: number;
  to: number;
  reason: string | null;
  createdBy: string | null;
  createdAt: number;
}

/** How a window is named where it explains a suppressed alarm or a missing reading. */
export function maintenanceNote(w: MaintenanceWindow): string {
  return `maintenance${w.reason ? `: ${w.reason}` : ''}`;
}

export class Maintenance {
  readonly #db: MonitorDb;
  #list: MaintenanceWindow[] = [];

  constructor(db: MonitorDb) {
    this.#db = db;
    this.#load();
  }

  #load(): void {
    this.#list = (this.#db.db.prepare('SELECT * FROM maintenance ORDER BY from_ts').all() as Record<string, unknown>[]).map((r) => ({
      id: Number(r.id),
      site: String(r.site),
      gateway: r.gateway === null ? null : String(r.gateway),
      device: r.device === null ? null : String(r.device),
      from: Number(r.from_ts),
      to: Number(r.to_ts),
      reason: r.reason === null ? null : String(r.reason),
      createdBy: r.created_by === null ? null : String(r.created_by),
      createdAt: Number(r.created_at),
    }));
  }

  list(site?: string): MaintenanceWindow[] {
    return site ? this.#list.filter((w) => w.site === site) : [...this.#list];
  }

  add(
    w: {
      site: string;
      gateway?: string | null | undefined;
      device?: string | null | undefined;
      from: number;
      to: number;
      reason?: string | null | undefined;
    },
    by: string,
  ): MaintenanceWindow {
    const id = Number(
      this.#db.db
        .prepare(
          'INSERT INTO maintenance (site, gateway, device, from_ts, to_ts, reason, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        )
        .run(w.site, w.gateway ?? null, w.device ?? null, w.from, w.to, w.reason ?? null, by, Date.now()).lastInsertRowid,
    );
    this.#load();
    return this.#list.find((x) => x.id === id)!;
  }

  remove(id: number): boolean {
    const n = Number(this.#db.db.prepare('DELETE FROM maintenance WHERE id = ?').run(id).changes);
    this.#load();
    return n > 0;
  }

  get(id: number): MaintenanceWindow | undefined {
    return this.#list.find((w) => w.id === id);
  }

  #covers(w: MaintenanceWindow, site: string, gateway: string | null, device: string | null): boolean {
    return w.site === site && (w.gateway === null || w.gateway === gateway) && (w.device === null || w.device === device);
  }

  active(site: string, gateway: string | null, device: string | null, ts: number): MaintenanceWindow | null {
    return this.#list.find((w) => w.from <= ts && ts < w.to && this.#covers(w, site, gateway, device)) ?? null;
  }

  /** Intervals of maintenance for a device within [from, to). */
  intervals(site: string, gateway: string | null, device: string | null, from: number, to: number): [number, number][] {
    return this.#list
      .filter((w) => w.from < to && from < w.to && this.#covers(w, site, gateway, device))
      .map((w) => [Math.max(from, w.from), Math.min(to, w.to)]);
  }
}
