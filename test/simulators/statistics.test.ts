// The resident model against the bounds documented in simulators/README.md ("Checked bounds"),
// over 30 simulated days × 6 residents (2 independent, 2 frail, 2 dependent).

import { describe, it, expect, beforeAll } from 'vitest';
import { PROFILES, simulate } from '../../simulators/index.ts';
import type { NdjsonReading } from '../../devices/index.ts';
import { scenario } from '../support/simulators.ts';

const OFFSET = 60; // minutes, the test site's UTC offset
const START = Date.parse('2025-03-03T00:00:00Z');
const DAYS = 30;
const HOMES = [
  { id: 'ind-1', resident: 'independent' },
  { id: 'ind-2', resident: 'independent' },
  { id: 'fra-1', resident: 'frail' },
  { id: 'fra-2', resident: 'frail' },
  { id: 'dep-1', resident: 'dependent' },
  { id: 'dep-2', resident: 'dependent' },
];
const localDay = (ts: number) => Math.floor((ts + OFFSET * 60_000) / 86_400_000);
const firstFullDay = localDay(START) + 1;
const lastFullDay = localDay(START + DAYS * 86_400_000) - 1;

function run(homes: { id: string; resident: unknown }[], seed = 3): NdjsonReading[] {
  const sc = scenario({
    days: DAYS,
    seed,
    sites: [{ id: 'stats', utcOffsetMin: OFFSET, homes: homes.map((h) => ({ ...h, devices: 'full' })) }],
  });
  const out: NdjsonReading[] = [];
  for (const d of simulate({ scenario: sc })) if (d.type === 'reading') out.push(d.reading);
  return out;
}

/** Readings where the value changed (status reports repeat the state; they are not events). */
function changes(readings: NdjsonReading[], dev: string, field: string): NdjsonReading[] {
  let last: unknown;
  const out: NdjsonReading[] = [];
  for (const r of readings) {
    if (r.dev !== dev) continue;
    if (r.v[field] !== last) out.push(r);
    last = r.v[field];
  }
  return out;
}

let readings: NdjsonReading[];
beforeAll(() => {
  readings = run(HOMES);
});

describe('resident statistics over 30 days × 6 residents', () => {
  it('daily intake per resident: mean within ±15 % of drinkMlPerDay, every full day within 20–200 % of it', () => {
    for (const h of HOMES) {
      const profile = PROFILES[h.resident]!;
      const perDay = new Map<number, number>();
      for (const r of readings) {
        if (r.home !== h.id || r.kind !== 'hydration') continue;
        const d = localDay(r.ts);
        if (d >= firstFullDay && d <= lastFullDay) perDay.set(d, (perDay.get(d) ?? 0) + (r.v.intake_ml as number));
      }
      const days = [...perDay.values()];
      expect(days.length).toBe(lastFullDay - firstFullDay + 1);
      const mean = days.reduce((a, b) => a + b, 0) / days.length;
      console.log(
        `[sim] ${h.id}: intake ${Math.round(mean)} ml/day (profile ${profile.drinkMlPerDay}), ` +
          `range ${Math.min(...days)}–${Math.max(...days)}`,
      );
      expect(Math.abs(mean - profile.drinkMlPerDay) / profile.drinkMlPerDay).toBeLessThan(0.15);
      for (const v of days) {
        expect(v).toBeGreaterThanOrEqual(0.2 * profile.drinkMlPerDay);
        expect(v).toBeLessThanOrEqual(2 * profile.drinkMlPerDay);
      }
    }
  });

  it('toilet visits: mean flushes per day within ±25 % of 0.95 × voidsPerDay, every day 1–20', () => {
    for (const h of HOMES) {
      const profile = PROFILES[h.resident]!;
      const perDay = new Map<number, number>();
      for (let d = firstFullDay; d <= lastFullDay; d++) perDay.set(d, 0);
      for (const r of changes(readings, `${h.id}-bathroom-toilet`, 'flush')) {
        const d = localDay(r.ts);
        if (r.v.flush === true && perDay.has(d)) perDay.set(d, perDay.get(d)! + 1);
      }
      const days = [...perDay.values()];
      const mean = days.reduce((a, b) => a + b, 0) / days.length;
      console.log(`[sim] ${h.id}: ${mean.toFixed(2)} flushes/day (profile ${profile.voidsPerDay} voids)`);
      expect(Math.abs(mean - 0.95 * profile.voidsPerDay) / (0.95 * profile.voidsPerDay)).toBeLessThan(0.25);
      for (const v of days) {
        expect(v).toBeGreaterThanOrEqual(1);
        expect(v).toBeLessThanOrEqual(20);
      }
    }
  });

  it('nights in bed: every night the resident goes to bed, and spends 6–13 h there', () => {
    for (const h of HOMES) {
      const bed = changes(readings, `${h.id}-bedroom-bed`, 'occupied');
      // Time in bed per night, the night of local day d being 18:00 on d to 12:00 on d+1.
      for (let d = firstFullDay; d < lastFullDay; d++) {
        const from = d * 86_400_000 - OFFSET * 60_000 + 18 * 3_600_000;
        const to = from + 18 * 3_600_000;
        let inBed = 0;
        let since: number | null = null;
        let state = false;
        for (const r of bed) {
          if (r.ts >= to) break;
          const t = Math.max(r.ts, from);
          if (state && since !== null && r.ts > from) inBed += t - since;
          state = r.v.occupied === true;
          since = t;
        }
        if (state && since !== null) inBed += to - since;
        const hours = inBed / 3_600_000;
        expect(hours, `${h.id} night ${d}`).toBeGreaterThan(6);
        expect(hours, `${h.id} night ${d}`).toBeLessThan(13);
      }
    }
  });

  it('falls per resident-week: with a high-risk profile (52 falls, 26 false alarms a year), the counts are Poisson-plausible', () => {
    const homes = Array.from({ length: 6 }, (_, i) => ({
      id: `risk-${i}`,
      resident: { profile: 'frail', fallsPerYear: 52, falseAlarmsPerYear: 26 },
    }));
    const rs = run(homes, 11);
    let falls = 0;
    let falseAlarms = 0;
    for (const h of homes) {
      const fall = rs.filter((r) => r.dev === `${h.id}-wearable-fall`);
      const states = changes(fall, `${h.id}-wearable-fall`, 'state');
      falls += states.filter((r) => r.v.state === 'suspected').length;
      falseAlarms += states.filter((r) => r.v.state === 'cancelled').length;
      // A real fall: suspected → fall → none; a false alarm: fall → cancelled.
      for (let i = 0; i < states.length; i++) {
        if (states[i]!.v.state === 'suspected') expect(states[i + 1]?.v.state).toBe('fall');
        if (states[i]!.v.state === 'cancelled') expect(states[i - 1]?.v.state).toBe('fall');
      }
    }
    const residentWeeks = (6 * DAYS) / 7;
    console.log(
      `[sim] high-risk: ${falls} falls (${(falls / residentWeeks).toFixed(2)}/resident-week, expected 1.00), ${falseAlarms} false alarms`,
    );
    // Expected 25.7 falls and 12.9 false alarms; 99.9 % Poisson intervals.
    expect(falls).toBeGreaterThanOrEqual(11);
    expect(falls).toBeLessThanOrEqual(44);
    expect(falseAlarms).toBeGreaterThanOrEqual(3);
    expect(falseAlarms).toBeLessThanOrEqual(26);
  });

  it('default profiles: falls stay rare (≤ 3 in 180 resident-days; expected ≈ 0.5)', () => {
    let falls = 0;
    for (const h of HOMES) falls += changes(readings, `${h.id}-wearable-fall`, 'state').filter((r) => r.v.state === 'suspected').length;
    console.log(`[sim] default profiles: ${falls} falls in ${6 * DAYS} resident-days`);
    expect(falls).toBeLessThanOrEqual(3);
  });

  it('incontinence: wet episodes per day near the profile, and pads are changed', () => {
    for (const h of HOMES) {
      const profile = PROFILES[h.resident]!;
      const pad = readings.filter((r) => r.dev === `${h.id}-bedroom-pad`);
      let wets = 0;
      let dries = 0;
      let last = 0;
      for (const r of pad) {
        const w = r.v.wetness_pct as number;
        if (w > last) wets++;
        if (w === 0 && last > 0) dries++;
        last = w;
      }
      const perDay = wets / DAYS;
      if (profile.incontinencePerDay === 0) expect(wets).toBe(0);
      else {
        expect(Math.abs(perDay - profile.incontinencePerDay) / profile.incontinencePerDay).toBeLessThan(0.35);
        expect(dries).toBeGreaterThan(DAYS / 2);
      }
    }
  });

  it('periodic reports keep to the catalogue: climate every ~10 min, others at least hourly', () => {
    const climate = readings.filter((r) => r.dev === 'ind-1-living-climate');
    expect(climate.length).toBeGreaterThan(DAYS * 144 * 0.98);
    for (let i = 1; i < climate.length; i++) expect(climate[i]!.ts - climate[i - 1]!.ts).toBeLessThanOrEqual(620_000);
    const door = readings.filter((r) => r.dev === 'ind-1-hall-door');
    for (let i = 1; i < door.length; i++) expect(door[i]!.ts - door[i - 1]!.ts).toBeLessThanOrEqual(3_700_000);
  });
});
