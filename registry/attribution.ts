// Who a reading belongs to, for ingest's enrich hook: the device's assignment at the reading's
// time gives the home; the participant is the one named on the assignment (a personal device such
// as a wearable), else the one participant enrolled in that home at that time. A participant is
// attributed only from enrolment until withdrawal. A device moved from one home to another keeps
// its older readings under the older home, because the lookup is by the reading's own time.
//
// Ingest is a hot path (~30k readings/s), so enrich() never touches the database: it reads an
// in-memory snapshot of assignments and participants. The snapshot is reloaded when the registry
// changes: at once after a write through this process's registry (`refresh()`), and by polling
// the registry's version (the newest audit id, which moves on every committed write) for changes
// made elsewhere (the CLI, another orchestrator).
//
// Identity binding (issue 11): enrich() is also the gate. A reading from gateway G (site S, its
// home H when G is bound to one, its operating organisation O when set) for device D is
//   stored and attributed   when D's assignment at the reading's time is to a home G serves
//                           (a home at S; H itself when G has a home);
//   stored, not attributed  when D is on G's allow-list but that assignment is elsewhere or
//                           there is none at that time (uploaded late, before installation);
//   quarantined             otherwise: a dead letter, never stored nor tracked.
// G's allow-list: the registered devices that were ever assigned to a home G serves, plus, when G
// has an operating organisation, that organisation's devices not yet assigned anywhere (stock
// being installed). With O set, a device of another organisation is never on it: a company's
// gateway cannot report, and so cannot be attributed, another company's device.
// Mode `auto` (the default) enforces this once the registry has any device registered: a centre
// with an empty registry (a first `testbed up --no-sim`, a split `testbed ingest` on its own data
// dir) stores every device as before this existed, unattributed, bounded by ingest's per-gateway
// device quota. `registered` always enforces; `any` never does (attribution by device only).

import type { Reading } from '../devices/index.ts';
import { type Enrich, Quarantine } from '../ingest/index.ts';
import { registryVersionOf } from './context.ts';
import type { Database } from './db.ts';

export type DeviceAdmission = 'auto' | 'registered' | 'any';

interface Span {
  from: number;
  /** Exclusive; Infinity when open. */
  to: number;
  homeId: string;
  participantId: string | null;
}
interface Resident {
  id: string;
  enrolledAt: number;
  /** Infinity when not withdrawn. */
  withdrawnAt: number;
}

export interface AttributionStats {
  devices: number;
  participants: number;
  version: number;
  loadedAt: number;
  /** Whether ingest's device gate is on (see the header). */
  enforcing: boolean;
}

interface GatewayInfo {
  homeId: string | null;
  orgId: string | null;
}

export class Attribution {
  readonly #db: Database;
  #byDevice = new Map<string, Span[]>();
  #byHome = new Map<string, Resident[]>();
  #participants = new Map<string, Resident>();
  /** Registered devices → owning organisation. */
  #deviceOrg = new Map<string, string>();
  #homeSite = new Map<string, string>();
  /** By `site/gateway`. */
  #gateways = new Map<string, GatewayInfo>();
  readonly #mode: DeviceAdmission;
  #version = -1;
  #loadedAt = 0;
  #timer: NodeJS.Timeout | undefined;
  #loading: Promise<void> | undefined;
  #again = false;
  onError: (err: unknown) => void = () => undefined;

  /** `devices`: a DeviceAdmission (lib/settings.ts has validated it; anything else is taken as 'registered', the strict one). */
  constructor(db: Database, opts: { devices?: DeviceAdmission | string | undefined } = {}) {
    this.#db = db;
    const m = opts.devices ?? 'auto';
    this.#mode = m === 'auto' || m === 'any' ? m : 'registered';
  }

  /** Loads the snapshot now and then polls for changes every `pollMs`. */
  async start(pollMs = 2000): Promise<this> {
    await this.refresh();
    this.#timer = setInterval(() => void this.#poll(), pollMs);
    this.#timer.unref();
    return this;
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  async #poll(): Promise<void> {
    try {
      if ((await registryVersionOf(this.#db)) !== this.#version) await this.refresh();
    } catch (err) {
      this.onError(err);
    }
  }

  /** Reloads the snapshot (coalescing concurrent calls: one more load runs after the current one). */
  refresh(): Promise<void> {
    if (this.#loading) {
      this.#again = true;
      return this.#loading;
    }
    this.#loading = (async () => {
      try {
        do {
          this.#again = false;
          await this.#load();
        } while (this.#again);
      } finally {
        this.#loading = undefined;
      }
    })();
    return this.#loading;
  }

  async #load(): Promise<void> {
    const { version, assignments, participants, devices, homes, gateways } = await this.#db.tx(async (q) => ({
      version: await registryVersionOf(q),
      assignments: await q.all<{
        device_id: string;
        home_id: string;
        participant_id: string | null;
        from_ts: number;
        to_ts: number | null;
      }>('SELECT device_id, home_id, participant_id, from_ts, to_ts FROM assignments ORDER BY device_id, from_ts'),
      participants: await q.all<{ id: string; home_id: string; enrolled_at: number; withdrawn_at: number | null }>(
        'SELECT id, home_id, enrolled_at, withdrawn_at FROM participants ORDER BY id',
      ),
      devices: await q.all<{ id: string; org_id: string }>('SELECT id, org_id FROM devices'),
      homes: await q.all<{ id: string; site_id: string }>('SELECT id, site_id FROM homes'),
      gateways: await q.all<{ site_id: string; gateway: string; home_id: string | null; org_id: string | null }>(
        'SELECT site_id, gateway, home_id, org_id FROM gateways',
      ),
    }));
    const byDevice = new Map<string, Span[]>();
    for (const a of assignments) {
      let spans = byDevice.get(a.device_id);
      if (!spans) {
        spans = [];
        byDevice.set(a.device_id, spans);
      }
      spans.push({
        from: Number(a.from_ts),
        to: a.to_ts === null ? Infinity : Number(a.to_ts),
        homeId: a.home_id,
        participantId: a.participant_id,
      });
    }
    const byHome = new Map<string, Resident[]>();
    const all = new Map<string, Resident>();
    for (const p of participants) {
      const r: Resident = {
        id: p.id,
        enrolledAt: Number(p.enrolled_at),
        withdrawnAt: p.withdrawn_at === null ? Infinity : Number(p.withdrawn_at),
      };
      all.set(p.id, r);
      let list = byHome.get(p.home_id);
      if (!list) {
        list = [];
        byHome.set(p.home_id, list);
      }
      list.push(r);
    }
    this.#deviceOrg = new Map(devices.map((d) => [String(d.id), String(d.org_id)]));
    this.#homeSite = new Map(homes.map((h) => [String(h.id), String(h.site_id)]));
    this.#gateways = new Map(gateways.map((g) => [`${g.site_id}/${g.gateway}`, { homeId: g.home_id ?? null, orgId: g.org_id ?? null }]));
    this.#byDevice = byDevice;
    this.#byHome = byHome;
    this.#participants = all;
    this.#version = version;
    this.#loadedAt = Date.now();
  }

  /** Tags for a device's reading at time `ts`: home and participant when the registry knows them. */
  lookup(device: string, ts: number): Record<string, string> | undefined {
    const spans = this.#byDevice.get(device);
    if (!spans) return undefined;
    let span: Span | undefined;
    for (let i = spans.length - 1; i >= 0; i--) {
      const s = spans[i]!;
      if (s.from <= ts) {
        if (ts < s.to) span = s;
        break;
      }
    }
    if (!span) return undefined;
    const active = (r: Resident | undefined) => r !== undefined && r.enrolledAt <= ts && ts < r.withdrawnAt;
    let participant: string | undefined;
    if (span.participantId) {
      if (active(this.#participants.get(span.participantId))) participant = span.participantId;
    } else {
      const here = this.#byHome.get(span.homeId)?.filter(active);
      // Several people in one home: a shared sensor's reading is not any one person's.
      if (here && here.length === 1) participant = here[0]!.id;
    }
    return participant ? { home: span.homeId, participant } : { home: span.homeId };
  }

  get enforcing(): boolean {
    return this.#mode === 'registered' || (this.#mode === 'auto' && this.#deviceOrg.size > 0);
  }

  /** Ingest's hook: the tags of a reading from `site/gateway`, or why it is quarantined (see the header). */
  readonly enrich: Enrich = (reading: Reading, site: string, gateway: string) => {
    if (!this.enforcing) return this.lookup(reading.dev, reading.ts);
    return this.bind(reading.dev, reading.ts, site, gateway);
  };

  /** The binding rule alone, enforced whatever the mode. */
  bind(device: string, ts: number, site: string, gateway: string): Record<string, string> | undefined | Quarantine {
    const owner = this.#deviceOrg.get(device);
    if (owner === undefined) return new Quarantine('unknown_device', `device '${device}' is not registered in the trial registry`);
    const gw = this.#gateways.get(`${site}/${gateway}`) ?? { homeId: null, orgId: null };
    if (gw.orgId !== null && owner !== gw.orgId)
      return new Quarantine(
        'foreign_device',
        `device '${device}' belongs to organisation '${owner}'; gateway ${site}/${gateway} is operated by '${gw.orgId}'`,
      );
    const serves = (home: string) => this.#homeSite.get(home) === site && (gw.homeId === null || gw.homeId === home);
    const spans = this.#byDevice.get(device) ?? [];
    if (spans.some((s) => serves(s.homeId))) {
      const tags = this.lookup(device, ts);
      // Assigned elsewhere at this reading's time (moved away, or the gateway kept an old reading):
      // stored for the record, but it is not this gateway's to attribute.
      return tags && serves(tags.home!) ? tags : undefined;
    }
    if (spans.length === 0 && gw.orgId !== null) return undefined; // the operator's own stock, not installed yet
    return spans.length === 0
      ? new Quarantine(
          'unknown_device',
          `device '${device}' is not assigned to any home, and gateway ${site}/${gateway} has no organisation`,
        )
      : new Quarantine('foreign_device', `device '${device}' is not assigned to a home that gateway ${site}/${gateway} serves`);
  }

  stats(): AttributionStats {
    return {
      devices: this.#byDevice.size,
      participants: this.#participants.size,
      version: this.#version,
      loadedAt: this.#loadedAt,
      enforcing: this.enforcing,
    };
  }
}
