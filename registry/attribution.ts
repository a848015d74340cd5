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

import type { Reading } from '../devices/index.ts';
import type { Enrich } from '../ingest/index.ts';
import type { Database } from './db.ts';

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
}

export class Attribution {
  readonly #db: Database;
  #byDevice = new Map<string, Span[]>();
  #byHome = new Map<string, Resident[]>();
  #participants = new Map<string, Resident>();
  #version = -1;
  #loadedAt = 0;
  #timer: NodeJS.Timeout | undefined;
  #loading: Promise<void> | undefined;
  #again = false;
  onError: (err: unknown) => void = () => undefined;

  constructor(db: Database) {
    this.#db = db;
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
      const r = await this.#db.get<{ v: number | null }>('SELECT max(id) AS v FROM audit_log');
      if (Number(r?.v ?? 0) !== this.#version) await this.refresh();
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
    const { version, assignments, participants } = await this.#db.tx(async (q) => ({
      version: Number((await q.get<{ v: number | null }>('SELECT max(id) AS v FROM audit_log'))?.v ?? 0),
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

  readonly enrich: Enrich = (reading: Reading) => this.lookup(reading.dev, reading.ts);

  stats(): AttributionStats {
    return { devices: this.#byDevice.size, participants: this.#participants.size, version: this.#version, loadedAt: this.#loadedAt };
  }
}
