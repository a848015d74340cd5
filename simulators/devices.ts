// Device behaviour models: one per catalogue kind. A model turns a resident's day plan into
// state changes; the runner around it adds the periodic status reports the catalogue's
// `reporting` prescribes, battery drain, link quality, and the device-level faults (silent,
// dead battery, stuck). Every reading produced here passes devices/contract.ts checkReading.

import { KINDS, type Kind, type Value, type Quality } from '../devices/index.ts';
import type { Rng } from './prng.ts';
import { STILL, segmentAt, type ApplianceRole, type DayPlan, type Room, type Segment } from './routine.ts';
import { SECOND, MINUTE, HOUR, DAY } from './time.ts';

export type DoorRole = 'entrance' | 'fridge' | 'cupboard' | 'cabinet' | 'bathroom';
export const DOOR_ROLES: readonly DoorRole[] = ['entrance', 'fridge', 'cupboard', 'cabinet', 'bathroom'];

export interface DeviceSpec {
  /** Device id as it appears on the wire (already prefixed with the home). */
  id: string;
  kind: Kind;
  /** Room the device is in; `wearable` for a worn fall detector or button. */
  room: Room | 'wearable';
  /** Door: which door; appliance: which appliance. */
  role?: string;
  /** Battery at the start, %. Omitted: drawn between 55 and 100. Mains devices report none. */
  battery?: number;
}

/** A reading before the gateway gives it a sequence number. */
export interface RawReading {
  dev: string;
  kind: Kind;
  ts: number;
  v: Record<string, Value>;
  q: Quality;
}

export interface DeviceFaults {
  silent: [number, number][];
  stuck: [number, number][];
  /** The battery runs flat at this instant; the device is silent from then on. */
  diesAt?: number;
}

type Change = { t: number; v: Record<string, Value> };

/** Battery life in days for each kind (null: mains powered), and whether it is recharged. */
const BATTERY: Record<Kind, { lifeDays: number; recharge: boolean } | null> = {
  hydration: { lifeDays: 7, recharge: true }, // smart cups are charged on a base about weekly
  fall: { lifeDays: 5, recharge: true }, // wearables; a radar in a room is mains (see below)
  incontinence: { lifeDays: 500, recharge: false },
  bed: { lifeDays: 365, recharge: false },
  chair: { lifeDays: 365, recharge: false },
  door: { lifeDays: 730, recharge: false }, // Aqara MCCGQ11LM: CR1632, ~2 years
  motion: { lifeDays: 550, recharge: false }, // SNZB-03: CR2450, 1–2 years
  toilet: { lifeDays: 365, recharge: false },
  appliance: null, // mains smart plug
  button: { lifeDays: 730, recharge: false },
  climate: { lifeDays: 550, recharge: false }, // SNZB-02: CR2450
};

export class SimDevice {
  readonly spec: DeviceSpec;
  readonly faults: DeviceFaults;
  private readonly rng: Rng;
  private readonly model: Model;
  private readonly intervalMs: number;
  private nextBeat: number;
  private pending: Change[] = [];
  private state: Record<string, Value>;
  private frozen: Record<string, Value> | null = null;
  private battery: number | null;
  private batteryAt: number;
  private readonly lqiBase: number;
  private readonly utcOffsetMin: number;

  constructor(spec: DeviceSpec, rng: Rng, start: number, utcOffsetMin: number, profileTempC: number, faults: DeviceFaults) {
    this.spec = spec;
    this.rng = rng;
    this.faults = faults;
    this.utcOffsetMin = utcOffsetMin;
    const reporting = KINDS[spec.kind].reporting;
    this.intervalMs = (reporting.mode === 'heartbeat' ? reporting.intervalS : reporting.heartbeatS) * SECOND;
    this.nextBeat = start + Math.round(rng.uniform(0, this.intervalMs));
    this.model = makeModel(spec, rng.fork('model'), profileTempC, utcOffsetMin);
    this.state = this.model.initial();
    const mains = BATTERY[spec.kind] === null || (spec.kind === 'fall' && spec.room !== 'wearable');
    this.battery = mains ? null : (spec.battery ?? Math.round(rng.uniform(55, 100)));
    this.batteryAt = start;
    this.lqiBase = rng.uniform(70, 200);
  }

  /** Adds the state changes a day plan causes. */
  plan(plan: DayPlan): void {
    const changes = this.model.changes(plan, this.rng);
    if (changes.length) {
      this.pending.push(...changes);
      this.pending.sort((a, b) => a.t - b.t);
    }
    this.model.remember?.(plan);
  }

  /** Readings with ts < `until`, in ts order. */
  drain(until: number, out: RawReading[]): void {
    const { pending } = this;
    let i = 0;
    for (;;) {
      const change = pending[i];
      const beatFirst = this.nextBeat < until && (change === undefined || this.nextBeat <= change.t);
      if (beatFirst) {
        const t = this.nextBeat;
        this.nextBeat += Math.round(this.intervalMs * this.rng.uniform(0.99, 1.01));
        this.model.beat?.(t, this.state, this.rng);
        this.emit(t, this.model.status(this.state), out);
        continue;
      }
      if (change === undefined || change.t >= until) break;
      i++;
      Object.assign(this.state, change.v);
      this.model.after?.(this.state);
      if (!this.isStuck(change.t)) this.emit(change.t, this.model.event ? this.model.event(this.state, change.v) : change.v, out);
    }
    pending.splice(0, i);
  }

  private isStuck(t: number): boolean {
    return this.faults.stuck.some(([a, b]) => t >= a && t < b);
  }

  private emit(t: number, v: Record<string, Value>, out: RawReading[]): void {
    t = Math.round(t);
    if (this.faults.diesAt !== undefined && t >= this.faults.diesAt) return;
    if (this.faults.silent.some(([a, b]) => t >= a && t < b)) return;
    const stuck = this.isStuck(t);
    if (stuck) {
      this.frozen ??= this.model.status({ ...this.state });
      v = this.frozen;
    } else this.frozen = null;
    const q: Quality = {};
    const battery = this.batteryLevel(t);
    if (battery !== null) q.battery = battery;
    q.lqi = Math.max(0, Math.min(255, Math.round(this.lqiBase + this.rng.normal(0, 8))));
    out.push({ dev: this.spec.id, kind: this.spec.kind, ts: t, v: { ...v }, q });
  }

  private batteryLevel(t: number): number | null {
    if (this.battery === null) return null;
    const spec = BATTERY[this.spec.kind];
    if (!spec) return null;
    const days = (t - this.batteryAt) / DAY;
    this.batteryAt = t;
    this.battery -= (100 / spec.lifeDays) * days;
    if (spec.recharge && this.battery <= 20) {
      // Charged overnight: back to full at the next report between 01:00 and 05:00 local.
      const hour = ((((t + this.utcOffsetMin * MINUTE) % DAY) + DAY) % DAY) / HOUR;
      if (hour >= 1 && hour < 5) this.battery = 100;
    }
    this.battery = Math.max(spec.recharge ? 5 : 0, this.battery);
    let level = this.battery;
    const dies = this.faults.diesAt;
    if (dies !== undefined) {
      const from = dies - 3 * DAY;
      if (t >= from) level = Math.min(level, level * ((dies - t) / (dies - from)));
    }
    return Math.max(0, Math.min(100, Math.round(level)));
  }
}

// ── models ─────────────────────────────────────────────────────────────────────────────────

interface Model {
  initial(): Record<string, Value>;
  /** State changes caused by a plan (they may reach beyond the plan's end). */
  changes(plan: DayPlan, rng: Rng): Change[];
  /** What a periodic status report carries, given the current state. */
  status(state: Record<string, Value>): Record<string, Value>;
  /** Updates state before a periodic report (climate, power draw). */
  beat?(t: number, state: Record<string, Value>, rng: Rng): void;
  after?(state: Record<string, Value>): void;
  /** What an event reading carries (default: the change itself). */
  event?(state: Record<string, Value>, change: Record<string, Value>): Record<string, Value>;
  remember?(plan: DayPlan): void;
}

const same = (s: Record<string, Value>) => ({ ...s });

/** Level-triggered: `field` is true while `isOn(segment)`, transitions at segment boundaries. */
function levelModel(field: string, isOn: (s: Segment) => boolean, delay: [number, number] = [0, 30]): Model {
  let current = false;
  return {
    initial: () => ({ [field]: false }),
    changes(plan, rng) {
      const out: Change[] = [];
      for (const s of plan.segments) {
        const want = isOn(s);
        if (want !== current) {
          current = want;
          out.push({ t: s.start + Math.round(rng.uniform(delay[0], delay[1]) * SECOND), v: { [field]: want } });
        }
      }
      return out;
    },
    status: same,
  };
}

function motionModel(room: Room): Model {
  const HOLD = 90 * SECOND; // SNZB-03 / Aqara: occupancy clears ~60–90 s after the last motion
  let last = -Infinity;
  let on = false;
  return {
    initial: () => ({ motion: false }),
    changes(plan, rng) {
      const pulses: number[] = [];
      for (const s of plan.segments) {
        if (s.room !== room) continue;
        pulses.push(s.start + rng.uniform(1, 10) * SECOND);
        if (STILL.has(s.activity)) {
          const rate = s.activity === 'sleep' ? 0.3 : s.activity === 'nap' ? 1 : 4; // per hour
          for (let i = rng.poisson((rate * (s.end - s.start)) / HOUR); i > 0; i--) pulses.push(rng.uniform(s.start, s.end));
          pulses.push(s.end - rng.uniform(5, 30) * SECOND);
        } else {
          for (let t = s.start + rng.uniform(40, 120) * SECOND; t < s.end; t += rng.uniform(40, 120) * SECOND) pulses.push(t);
        }
      }
      if (room === 'hall') for (const t of plan.entrance) pulses.push(t - 5 * SECOND, t + 10 * SECOND);
      if (room === 'living' || room === 'kitchen')
        for (const v of plan.carerVisits) pulses.push(v.start + 60 * SECOND, (v.start + v.end) / 2);
      pulses.sort((a, b) => a - b);
      const out: Change[] = [];
      for (const p of pulses) {
        const t = Math.round(p);
        if (on && t - last > HOLD) {
          out.push({ t: last + HOLD, v: { motion: false } });
          on = false;
        }
        if (!on) {
          out.push({ t, v: { motion: true } });
          on = true;
        }
        last = Math.max(last, t);
      }
      if (on && last + HOLD < plan.end) {
        out.push({ t: last + HOLD, v: { motion: false } });
        on = false;
      }
      return out;
    },
    status: same,
  };
}

function hydrationModel(capacity = 250): Model {
  let level = capacity;
  return {
    initial: () => ({ intake_ml: 0, level_ml: capacity }),
    changes(plan, rng) {
      const out: Change[] = [];
      for (const d of plan.drinks) {
        if (level < d.ml) {
          level = Math.max(capacity, d.ml);
          out.push({ t: d.t - Math.round(rng.uniform(20, 90) * SECOND), v: { intake_ml: 0, level_ml: level } });
        }
        level -= d.ml;
        out.push({ t: d.t, v: { intake_ml: d.ml, level_ml: level } });
      }
      return out;
    },
    status: (s) => ({ intake_ml: 0, level_ml: s.level_ml as number }),
  };
}

function fallModel(room: Room | 'wearable'): Model {
  const radar = room !== 'wearable';
  const presence = levelModel('presence', (s) => s.room === room);
  return {
    initial: (): Record<string, Value> => (radar ? { fall: false, state: 'none', presence: false } : { fall: false, state: 'none' }),
    changes(plan, rng) {
      const out: Change[] = radar ? presence.changes(plan, rng) : [];
      for (const f of plan.falls) {
        if (radar && f.room !== room) continue;
        const conf = rng.int(85, 99);
        out.push({ t: f.t, v: { fall: false, state: 'suspected', confidence_pct: conf - rng.int(10, 30) } });
        out.push({ t: f.t + Math.round(rng.uniform(5, 20) * SECOND), v: { fall: true, state: 'fall', confidence_pct: conf } });
        out.push({ t: f.t + f.lieMs, v: { fall: false, state: 'none', confidence_pct: conf } });
      }
      for (const a of plan.falseAlarms) {
        out.push({ t: a.t, v: { fall: true, state: 'fall', confidence_pct: rng.int(50, 80) } });
        out.push({ t: a.t + a.cancelAfterMs, v: { fall: false, state: 'cancelled' } });
      }
      return out;
    },
    status: (s) => {
      const v: Record<string, Value> = { fall: s.fall as boolean, state: s.state as string };
      if (radar) v.presence = s.presence as boolean;
      return v;
    },
    after(s) {
      if (s.state === 'cancelled') s.state = 'none';
    },
    event(s, change) {
      const v: Record<string, Value> = { fall: s.fall as boolean, state: s.state as string };
      if (radar) v.presence = s.presence as boolean;
      return { ...v, ...change };
    },
  };
}

function incontinenceModel(): Model {
  let wetness = 0;
  return {
    initial: () => ({ wet: false, wetness_pct: 0 }),
    changes(plan, rng) {
      const events = [...plan.wets.map((t) => ({ t, wet: true })), ...plan.padChanges.map((t) => ({ t, wet: false }))].sort(
        (a, b) => a.t - b.t,
      );
      const out: Change[] = [];
      for (const e of events) {
        if (e.wet) {
          wetness = Math.min(100, wetness + rng.int(30, 60));
          out.push({ t: e.t, v: { wet: true, wetness_pct: wetness } });
        } else if (wetness > 0) {
          wetness = 0;
          out.push({ t: e.t, v: { wet: false, wetness_pct: 0 } });
        }
      }
      return out;
    },
    status: same,
  };
}

function doorModel(role: DoorRole): Model {
  const openFor: Record<DoorRole, [number, number]> = {
    entrance: [4, 25],
    fridge: [8, 60],
    cupboard: [4, 20],
    cabinet: [4, 20],
    bathroom: [3, 8],
  };
  return {
    initial: () => ({ open: false }),
    changes(plan, rng) {
      let times: number[];
      if (role === 'bathroom') {
        times = [];
        let inside = false;
        for (const s of plan.segments) {
          const now = s.room === 'bathroom';
          if (now !== inside) times.push(s.start - 4 * SECOND);
          inside = now;
        }
      } else times = plan[role];
      const out: Change[] = [];
      let busyUntil = -Infinity;
      for (const t of times) {
        if (t < busyUntil) continue;
        const close = t + Math.round(rng.uniform(...openFor[role]) * SECOND);
        out.push({ t, v: { open: true } }, { t: close, v: { open: false } });
        busyUntil = close + SECOND;
      }
      return out;
    },
    status: same,
  };
}

function toiletModel(): Model {
  return {
    initial: () => ({ flush: false }),
    changes(plan, rng) {
      const out: Change[] = [];
      for (const s of plan.segments) {
        if (s.activity !== 'toilet' || !rng.chance(0.95)) continue;
        const t = s.end - Math.round(rng.uniform(15, 40) * SECOND);
        out.push({ t, v: { flush: true } }, { t: t + Math.round(rng.uniform(6, 12) * SECOND), v: { flush: false } });
      }
      return out;
    },
    status: same,
  };
}

function applianceModel(role: ApplianceRole): Model {
  const standby = role === 'tv' ? 0.5 : role === 'coffee' ? 1.2 : 0;
  let busyUntil = -Infinity;
  return {
    initial: () => ({ on: false, power_w: standby }),
    changes(plan, rng) {
      const out: Change[] = [];
      for (const a of plan.appliances) {
        if (a.role !== role || a.start < busyUntil) continue;
        out.push({ t: a.start, v: { on: true, power_w: round1(a.watts * rng.uniform(0.95, 1.05)) } });
        out.push({ t: a.end, v: { on: false, power_w: standby } });
        busyUntil = a.end + SECOND;
      }
      return out;
    },
    status: same,
    beat(_t, s, rng) {
      if (s.on) s.power_w = round1(Math.min(4000, Math.max(0, (s.power_w as number) * rng.uniform(0.98, 1.02))));
    },
  };
}

function buttonModel(): Model {
  return {
    initial: () => ({ action: 'none' }),
    changes(plan) {
      const out: Change[] = [];
      for (const p of plan.sos) {
        out.push({ t: p.t, v: { action: 'sos' } });
        if (p.cancelAfterMs !== null) out.push({ t: p.t + p.cancelAfterMs, v: { action: 'cancel' } });
      }
      return out;
    },
    status: () => ({ action: 'none' }),
  };
}

function climateModel(room: Room, setpoint: number, utcOffsetMin: number): Model {
  const plans: DayPlan[] = [];
  let drift = 0;
  let humDrift = 0;
  const base = setpoint + (room === 'bedroom' ? -1.5 : room === 'hall' ? -1 : room === 'bathroom' ? 0.5 : 0);
  return {
    initial: () => ({ temperature_c: round1(base), humidity_pct: 35 }),
    changes: () => [],
    remember(plan) {
      plans.push(plan);
      if (plans.length > 2) plans.shift();
    },
    status: same,
    beat(t, s, rng) {
      const hour = ((((t + utcOffsetMin * MINUTE) % DAY) + DAY) % DAY) / HOUR;
      // Night set-back 23–06, afternoon sun +0.5 °C.
      let temp = base + (hour >= 23 || hour < 6 ? -1 : 0) + 0.5 * Math.max(0, Math.sin(((hour - 10) / 10) * Math.PI));
      let hum = 35;
      for (const p of plans) {
        if (room === 'bathroom') {
          for (const sh of p.showers) {
            if (t >= sh.start) {
              const k = t < sh.end ? (t - sh.start) / (sh.end - sh.start) : Math.exp(-(t - sh.end) / (20 * MINUTE));
              temp += 1.5 * k;
              hum += 40 * k;
            }
          }
        }
        if (room === 'kitchen') {
          for (const a of p.appliances) {
            if (a.role !== 'cooker' || t < a.start) continue;
            const k = t < a.end ? (t - a.start) / (a.end - a.start) : Math.exp(-(t - a.end) / (30 * MINUTE));
            temp += 1.5 * k;
            hum += 10 * k;
          }
        }
        const seg = segmentAt(p.segments, t);
        if (seg?.room === room && seg.activity !== 'sleep') temp += 0.2;
      }
      drift = 0.9 * drift + rng.normal(0, 0.1);
      humDrift = 0.95 * humDrift + rng.normal(0, 0.6);
      s.temperature_c = round1(Math.max(-20, Math.min(60, temp + drift)));
      s.humidity_pct = round1(Math.max(5, Math.min(100, hum + humDrift)));
    },
  };
}

const round1 = (x: number) => Math.round(x * 10) / 10;

function makeModel(spec: DeviceSpec, _rng: Rng, tempC: number, utcOffsetMin: number): Model {
  const room = spec.room;
  const inRoom = room === 'wearable' ? 'living' : room;
  switch (spec.kind) {
    case 'hydration':
      return hydrationModel();
    case 'fall':
      return fallModel(room);
    case 'incontinence':
      return incontinenceModel();
    case 'bed':
      return levelModel('occupied', (s) => s.room === 'bedroom' && (s.activity === 'sleep' || s.activity === 'nap'));
    case 'chair':
      return levelModel(
        'occupied',
        (s) => s.room === inRoom && (s.activity === 'sit' || s.activity === 'nap' || (s.activity === 'eat' && inRoom === 'kitchen')),
      );
    case 'door':
      return doorModel((spec.role ?? 'entrance') as DoorRole);
    case 'motion':
      return motionModel(inRoom);
    case 'toilet':
      return toiletModel();
    case 'appliance':
      return applianceModel((spec.role ?? 'kettle') as ApplianceRole);
    case 'button':
      return buttonModel();
    case 'climate':
      return climateModel(inRoom, tempC, utcOffsetMin);
  }
}
