// A resident's day: where they are and what they do from waking up to waking up the next day,
// and the events the devices observe (drinks, toilet visits, falls, SOS presses, wet pads,
// appliance use, doors). Device models (devices.ts) turn a plan into readings.
//
// Each day is planned from its own random stream (seed / home / day number), so a given day
// looks the same whatever the start of the run, and two runs with the same seed are identical.

import type { Rng } from './prng.ts';
import type { ResidentProfile } from './profiles.ts';
import { MINUTE, HOUR, DAY, SECOND, parseClock } from './time.ts';

export type Room = 'bedroom' | 'bathroom' | 'kitchen' | 'living' | 'hall' | 'out';
export const ROOMS: readonly Room[] = ['bedroom', 'bathroom', 'kitchen', 'living', 'hall'];
export type Activity = 'sleep' | 'toilet' | 'shower' | 'groom' | 'dress' | 'cook' | 'eat' | 'sit' | 'nap' | 'idle' | 'out';
/** Activities during which the resident hardly moves (motion sensors go quiet). */
export const STILL: ReadonlySet<Activity> = new Set(['sleep', 'sit', 'nap']);

export interface Segment {
  start: number;
  end: number;
  room: Room;
  activity: Activity;
}

export type ApplianceRole = 'kettle' | 'cooker' | 'microwave' | 'toaster' | 'tv' | 'coffee';
export const APPLIANCE_ROLES: readonly ApplianceRole[] = ['kettle', 'cooker', 'microwave', 'toaster', 'tv', 'coffee'];

export interface DayPlan {
  /** Day number (local days since 1970-01-01). */
  day: number;
  /** Local midnight of `day`, epoch ms. */
  midnight: number;
  /** Wake-up time; the plan runs until the next wake-up (`end`). */
  start: number;
  end: number;
  /** Contiguous, covering [start, end). */
  segments: Segment[];
  drinks: { t: number; ml: number }[];
  falls: { t: number; room: Room; lieMs: number }[];
  falseAlarms: { t: number; cancelAfterMs: number }[];
  sos: { t: number; cancelAfterMs: number | null }[];
  wets: number[];
  /** Moments a carer or the resident changes the pad (a wet sensor dries). */
  padChanges: number[];
  appliances: { role: ApplianceRole; start: number; end: number; watts: number }[];
  /** Openings of the entrance door (resident or carer); each lasts a few seconds. */
  entrance: number[];
  fridge: number[];
  cupboard: number[];
  cabinet: number[];
  carerVisits: { start: number; end: number }[];
  showers: { start: number; end: number }[];
}

function clock(text: string): number {
  const v = parseClock(text);
  if (v === null) throw new Error(`bad clock time '${text}'`);
  return v;
}

/** Local midnight (epoch ms) of local day `day` at a UTC offset in minutes. */
export function localMidnight(day: number, utcOffsetMin: number): number {
  return day * DAY - utcOffsetMin * MINUTE;
}

export function localDay(t: number, utcOffsetMin: number): number {
  return Math.floor((t + utcOffsetMin * MINUTE) / DAY);
}

/** Wake-up time on local day `day` (drawn from that day's own stream). */
export function wakeTime(rng: Rng, profile: ResidentProfile, day: number, utcOffsetMin: number): number {
  const r = rng.fork(`wake-${day}`);
  const offset = Math.max(-2 * HOUR, Math.min(2 * HOUR, r.normal(0, profile.wakeSdMin * MINUTE)));
  return Math.round(localMidnight(day, utcOffsetMin) + clock(profile.wake) + offset);
}

export function planDay(rng: Rng, profile: ResidentProfile, day: number, utcOffsetMin: number): DayPlan {
  const r = rng.fork(`day-${day}`);
  const midnight = localMidnight(day, utcOffsetMin);
  const start = wakeTime(rng, profile, day, utcOffsetMin);
  const end = wakeTime(rng, profile, day + 1, utcOffsetMin);
  const min = (lo: number, hi: number) => Math.round(r.uniform(lo, hi) * MINUTE);
  const plan: DayPlan = {
    day,
    midnight,
    start,
    end,
    segments: [],
    drinks: [],
    falls: [],
    falseAlarms: [],
    sos: [],
    wets: [],
    padChanges: [],
    appliances: [],
    entrance: [],
    fridge: [],
    cupboard: [],
    cabinet: [],
    carerVisits: [],
    showers: [],
  };
  const segs = plan.segments;
  let t = start;
  const push = (room: Room, activity: Activity, dur: number) => {
    if (dur <= 0) return;
    segs.push({ start: t, end: t + dur, room, activity });
    t += dur;
  };
  const until = (room: Room, activity: Activity, when: number) => push(room, activity, when - t);
  const cook = (role: ApplianceRole, watts: number, prepMin: [number, number], useMin: [number, number]) => {
    const prep = min(...prepMin);
    const use = Math.min(prep - MINUTE, min(...useMin));
    plan.appliances.push({ role, start: t + MINUTE, end: t + MINUTE + Math.max(MINUTE, use), watts });
    plan.fridge.push(t + min(0.5, 2));
    if (r.chance(0.5)) plan.fridge.push(t + prep - min(1, 2));
    if (r.chance(0.7)) plan.cupboard.push(t + min(1, 3));
    push('kitchen', 'cook', prep);
  };

  // Morning: toilet, shower every few days, grooming, dressing, breakfast.
  push('bathroom', 'toilet', min(3, 6));
  const showerDay = profile.showerEveryDays > 0 && day % profile.showerEveryDays === 0;
  if (showerDay) {
    const s = t;
    push('bathroom', 'shower', min(10, 20));
    plan.showers.push({ start: s, end: t });
    plan.padChanges.push(t);
  }
  plan.cabinet.push(t + min(0.5, 3));
  push('bathroom', 'groom', min(5, 10));
  push('bedroom', 'dress', min(4, 10));
  const breakfast = t;
  cook('kettle', 2000, [8, 14], [2, 4]);
  if (r.chance(0.4)) plan.appliances.push({ role: 'toaster', start: breakfast + 2 * MINUTE, end: breakfast + 5 * MINUTE, watts: 850 });
  if (r.chance(0.5)) plan.appliances.push({ role: 'coffee', start: breakfast + MINUTE, end: breakfast + 4 * MINUTE, watts: 1200 });
  const breakfastEat = t;
  push('kitchen', 'eat', min(15, 25));

  const lunchAt = Math.max(t + 30 * MINUTE, midnight + clock('12:00') + r.normal(0, 30 * MINUTE));
  const dinnerAt = Math.max(lunchAt + 3 * HOUR, midnight + clock('17:30') + r.normal(0, 30 * MINUTE));
  let bedtime = midnight + clock(profile.bedtime) + Math.max(-2 * HOUR, Math.min(2 * HOUR, r.normal(0, profile.bedtimeSdMin * MINUTE)));
  bedtime = Math.min(bedtime, end - 6 * HOUR);
  bedtime = Math.max(bedtime, dinnerAt + 2 * HOUR);

  const outing = r.chance(profile.outingProbability) ? (r.chance(0.5) ? 'morning' : 'afternoon') : null;
  const free = (to: number, which: 'morning' | 'afternoon') => {
    const goOut = outing === which;
    const outLen = min(...profile.outingMin);
    let outAt = goOut ? t + r.uniform(0, Math.max(0, to - t - outLen - 20 * MINUTE)) : Infinity;
    if (goOut && to - t < outLen + 20 * MINUTE) outAt = Infinity;
    if (which === 'afternoon' && r.chance(profile.napProbability) && !goOut) {
      const napLen = min(30, 90);
      if (to - t > napLen + 15 * MINUTE) {
        push('living', 'idle', min(5, 15));
        if (profile.napInBed) push('bedroom', 'nap', napLen);
        else push('living', 'nap', napLen);
      }
    }
    while (t < to - MINUTE) {
      if (t >= outAt) {
        push('hall', 'dress', min(2, 4));
        plan.entrance.push(t - 20 * SECOND);
        push('out', 'out', outLen);
        plan.entrance.push(t + 5 * SECOND);
        push('hall', 'dress', min(1, 3));
        outAt = Infinity;
        continue;
      }
      const piece = Math.min(to - t, min(15, 50), outAt > t ? outAt - t : Infinity);
      const room: Room = r.chance(0.6) ? 'living' : r.chance(0.5) ? 'kitchen' : 'bedroom';
      push(room, room === 'living' && r.chance(0.7) ? 'sit' : 'idle', piece);
    }
    if (t < to) push('living', 'idle', to - t);
  };
  free(lunchAt, 'morning');
  if (r.chance(0.6)) cook('cooker', 1500, [12, 25], [8, 20]);
  else cook('microwave', 900, [6, 10], [2, 5]);
  const lunchEat = t;
  push('kitchen', 'eat', min(20, 30));
  free(dinnerAt, 'afternoon');
  cook('cooker', 1800, [20, 40], [15, 30]);
  const dinnerEat = t;
  push('kitchen', 'eat', min(20, 30));
  // Evening in the armchair, TV on.
  const eveningStart = t;
  until('living', 'sit', bedtime - 12 * MINUTE);
  if (t > eveningStart) plan.appliances.push({ role: 'tv', start: eveningStart + min(0, 5), end: t - MINUTE, watts: 90 });
  push('bathroom', 'toilet', min(3, 5));
  push('bathroom', 'groom', min(4, 8));
  const sleepStart = t;
  until('bedroom', 'sleep', end);

  // Night toilet visits (nocturia), not in the first or last half hour of sleep.
  const nightVoids = r.poisson(profile.nocturiaPerNight);
  for (let i = 0; i < nightVoids; i++) {
    const at = r.uniform(sleepStart + 30 * MINUTE, end - 40 * MINUTE);
    insert(segs, at, min(3, 8), 'bathroom', 'toilet', ['sleep']);
  }
  // Daytime toilet visits: the rest of the day's voids (the morning and bedtime ones count).
  const dayVoids = r.poisson(Math.max(0, profile.voidsPerDay - profile.nocturiaPerNight - 2));
  const awake = (s: Segment) => s.activity !== 'sleep' && s.activity !== 'out' && s.room !== 'bathroom' && s.end - s.start > 8 * MINUTE;
  for (let i = 0; i < dayVoids; i++) {
    const s = pickWeighted(r, segs.filter(awake));
    if (!s) break;
    insert(segs, r.uniform(s.start + MINUTE, s.end - 7 * MINUTE), min(3, 6), 'bathroom', 'toilet', [s.activity]);
  }

  // Drinks: a daily total spread over drinking events, one with each meal, the rest while at home.
  const total = Math.max(100, Math.round(r.normal(profile.drinkMlPerDay, profile.drinkSdFraction * profile.drinkMlPerDay)));
  const n = Math.max(1, Math.round(total / profile.drinkEventMl));
  const times: number[] = [breakfastEat + min(2, 10), lunchEat + min(2, 10), dinnerEat + min(2, 10)].slice(0, n);
  const drinkable = segs.filter(
    (s) => s.activity !== 'sleep' && s.activity !== 'out' && s.room !== 'bathroom' && s.end - s.start > 2 * MINUTE,
  );
  while (times.length < n) {
    const s = pickWeighted(r, drinkable);
    if (!s) break;
    times.push(Math.round(r.uniform(s.start + 30 * SECOND, s.end - 30 * SECOND)));
  }
  times.sort((a, b) => a - b);
  const weights = times.map(() => r.uniform(0.6, 1.4));
  const wsum = weights.reduce((a, b) => a + b, 0);
  let left = total;
  times.forEach((at, i) => {
    const ml = i === times.length - 1 ? left : Math.min(left, Math.round((total * (weights[i] as number)) / wsum));
    left -= ml;
    plan.drinks.push({ t: at, ml: Math.min(1000, ml) });
    const s = segmentAt(segs, at);
    if (s?.room === 'kitchen' && r.chance(0.3)) plan.fridge.push(at - min(0.5, 1));
    if (s && s.activity !== 'eat' && r.chance(0.25))
      plan.appliances.push({ role: 'kettle', start: at - 4 * MINUTE, end: at - MINUTE, watts: 2000 });
  });

  // Falls (while up and about, at home) and false alarms (any time).
  const active = segs.filter((s) => s.activity !== 'out' && s.activity !== 'sleep');
  for (let i = r.poisson(profile.fallsPerYear / 365); i > 0; i--) {
    const s = pickWeighted(r, active);
    if (s) plan.falls.push({ t: Math.round(r.uniform(s.start, s.end)), room: s.room, lieMs: min(3, 45) });
  }
  for (let i = r.poisson(profile.falseAlarmsPerYear / 365); i > 0; i--) {
    plan.falseAlarms.push({ t: Math.round(r.uniform(start, end)), cancelAfterMs: Math.round(r.uniform(20, 120) * SECOND) });
  }
  for (let i = r.poisson(profile.sosPerYear / 365); i > 0; i--) {
    const s = pickWeighted(
      r,
      segs.filter((x) => x.activity !== 'out'),
    );
    if (s)
      plan.sos.push({
        t: Math.round(r.uniform(s.start, s.end)),
        cancelAfterMs: r.chance(profile.sosAccidentalShare) ? Math.round(r.uniform(10, 90) * SECOND) : null,
      });
  }
  for (const f of plan.falls) {
    if (r.chance(profile.sosAfterFall)) plan.sos.push({ t: f.t + Math.round(r.uniform(15, 120) * SECOND), cancelAfterMs: null });
  }

  // Incontinence: wet episodes at any time; pads changed at care visits (and after a shower).
  for (let i = r.poisson(profile.incontinencePerDay); i > 0; i--) plan.wets.push(Math.round(r.uniform(start, end)));
  for (const v of profile.careVisits) {
    const at = midnight + clock(v) + Math.round(r.normal(0, 10 * MINUTE));
    const here = segmentAt(segs, at);
    if (!here || here.activity === 'out') continue;
    const stay = min(15, 35);
    plan.carerVisits.push({ start: at, end: at + stay });
    plan.entrance.push(at, at + stay);
    plan.padChanges.push(at + Math.round(stay / 2));
  }

  plan.drinks.sort((a, b) => a.t - b.t);
  for (const list of [plan.entrance, plan.fridge, plan.cupboard, plan.cabinet, plan.wets, plan.padChanges]) list.sort((a, b) => a - b);
  plan.sos.sort((a, b) => a.t - b.t);
  plan.appliances.sort((a, b) => a.start - b.start);
  return plan;
}

function pickWeighted(r: Rng, segs: Segment[]): Segment | undefined {
  const total = segs.reduce((a, s) => a + (s.end - s.start), 0);
  if (total <= 0) return undefined;
  let x = r.next() * total;
  for (const s of segs) {
    x -= s.end - s.start;
    if (x < 0) return s;
  }
  return segs[segs.length - 1];
}

export function segmentAt(segs: readonly Segment[], t: number): Segment | undefined {
  let lo = 0;
  let hi = segs.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const s = segs[mid] as Segment;
    if (t < s.start) hi = mid - 1;
    else if (t >= s.end) lo = mid + 1;
    else return s;
  }
  return undefined;
}

/** Splits the segment at `at` to put [at, at+dur) in `room` doing `activity` (if it fits). */
function insert(segs: Segment[], at: number, dur: number, room: Room, activity: Activity, into: Activity[]): void {
  at = Math.round(at);
  const i = segs.findIndex((s) => at >= s.start && at < s.end);
  const s = segs[i];
  if (!s || !into.includes(s.activity) || at + dur > s.end - MINUTE || at < s.start + MINUTE) return;
  segs.splice(i, 1, { ...s, end: at }, { start: at, end: at + dur, room, activity }, { ...s, start: at + dur });
}
