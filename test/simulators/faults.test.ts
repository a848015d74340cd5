// Each fault shows up in the NDJSON as it should. The faulty run is compared with the same
// scenario and seed without faults: the random streams of devices do not depend on faults, so
// the two runs differ exactly where a fault acts.

import { describe, it, expect, beforeAll } from 'vitest';
import { checkReading, BATTERY_LOW_PCT } from '../../devices/index.ts';
import { ndjsonOf, lines, parsed, scenario, type Line } from '../support/simulators.ts';

const H = 3_600_000;
const START = Date.parse('2025-03-03T00:00:00Z');
const homes = ['h-off', 'h-ref', 'h-dev', 'h-dup', 'h-ooo', 'h-skew', 'h-bad'].map((id) => ({ id, resident: 'frail', devices: 'full' }));
const FAULTS = [
  { type: 'gateway-offline', site: 's', home: 'h-off', at: '10h', duration: '3h' },
  { type: 'device-silent', site: 's', home: 'h-dev', device: 'kitchen-cup', at: '20h', duration: '6h' },
  { type: 'battery-death', site: 's', home: 'h-dev', device: 'living-motion', at: '1d12h' },
  { type: 'stuck', site: 's', home: 'h-dev', device: 'living-climate', at: '30h', duration: '10h' },
  { type: 'duplicates', site: 's', home: 'h-dup', at: '4h', duration: '4h', probability: 0.5 },
  { type: 'out-of-order', site: 's', home: 'h-ooo', at: '14h', duration: '4h', maxDelay: '30m' },
  { type: 'clock-skew', site: 's', home: 'h-skew', at: '40h', duration: '4h', offset: '+2h' },
  { type: 'malformed', site: 's', home: 'h-bad', at: '6h', duration: '12h', count: 10 },
];
const doc = (faults: unknown[]) => scenario({ days: 2, seed: 9, sites: [{ id: 's', homes }], faults });

let faulty: string;
let clean: string;
let F: Line[];
let C: Line[];
beforeAll(async () => {
  faulty = await ndjsonOf(doc(FAULTS));
  clean = await ndjsonOf(doc([]));
  F = parsed(faulty);
  C = parsed(clean);
});
const of = (ls: Line[], home: string) => ls.filter((l) => l.home === home);
const key = (l: Line) => `${l.dev}|${l.seq}`;
const inWindow = (ts: number, a: number, b: number) => ts >= START + a * H && ts < START + b * H;

describe('faults', () => {
  it('without faults, the output is in timestamp order and every line is valid', () => {
    for (let i = 1; i < C.length; i++) expect(C[i]!.ts).toBeGreaterThanOrEqual(C[i - 1]!.ts);
    expect(lines(clean).length).toBe(C.length);
    for (const l of C) expect(checkReading(l, START + 10 * 24 * H)).toBeNull();
  });

  it("gateway offline: its readings of the window arrive late (after other homes' later readings), none lost", () => {
    const idx = F.map((l, i) => ({ l, i }));
    const held = idx.filter(({ l }) => l.home === 'h-off' && inWindow(l.ts, 10, 13));
    const others = idx.filter(({ l }) => l.home === 'h-ref' && inWindow(l.ts, 10, 13));
    expect(held.length).toBeGreaterThan(20);
    const firstHeld = Math.min(...held.map((x) => x.i));
    const lastOther = Math.max(...others.map((x) => x.i));
    expect(firstHeld).toBeGreaterThan(lastOther);
    expect(of(F, 'h-off').map(key).sort()).toEqual(of(C, 'h-off').map(key).sort());
  });

  it('device silent: a gap of the window in its readings, and its seq carries on without a hole', () => {
    const cup = F.filter((l) => l.dev === 'h-dev-kitchen-cup');
    expect(cup.filter((l) => inWindow(l.ts, 20, 26))).toHaveLength(0);
    expect(cup.some((l) => inWindow(l.ts, 14, 20)) && cup.some((l) => inWindow(l.ts, 26, 32))).toBe(true);
    const gaps = cup.slice(1).map((l, i) => l.ts - cup[i]!.ts);
    expect(Math.max(...gaps)).toBeGreaterThanOrEqual(6 * H);
    cup.forEach((l, i) => {
      expect(l.seq).toBe(i + 1);
    });
  });

  it('battery death: the battery falls to low, then the device is silent for good', () => {
    const m = F.filter((l) => l.dev === 'h-dev-living-motion');
    const dies = START + 36 * H;
    expect(m.every((l) => l.ts < dies)).toBe(true);
    expect(m[m.length - 1]!.q!.battery).toBeLessThanOrEqual(BATTERY_LOW_PCT);
    // It drains over the last three days (from a level of 55–100 %), never recovering.
    for (let i = 1; i < m.length; i++) expect(m[i]!.q!.battery!).toBeLessThanOrEqual(m[i - 1]!.q!.battery!);
    expect(m[0]!.q!.battery!).toBeGreaterThan(20);
  });

  it('stuck sensor: the same value over the window, while it varies outside', () => {
    const c = F.filter((l) => l.dev === 'h-dev-living-climate');
    const stuck = c.filter((l) => inWindow(l.ts, 30, 40));
    expect(stuck.length).toBeGreaterThan(50);
    expect(new Set(stuck.map((l) => JSON.stringify(l.v))).size).toBe(1);
    expect(new Set(c.filter((l) => inWindow(l.ts, 20, 30)).map((l) => JSON.stringify(l.v))).size).toBeGreaterThan(5);
  });

  it('duplicates: some (dev, seq) repeat, identical, only inside the window', () => {
    const d = of(F, 'h-dup');
    const seen = new Map<string, string>();
    let repeats = 0;
    for (const [i, l] of d.entries()) {
      const k = key(l);
      const line = JSON.stringify(l);
      if (seen.has(k)) {
        repeats++;
        expect(seen.get(k)).toBe(line);
        expect(inWindow(l.ts, 4, 8)).toBe(true);
      } else seen.set(k, line);
      void i;
    }
    expect(repeats).toBeGreaterThan(10);
    expect([...seen.keys()].sort()).toEqual(of(C, 'h-dup').map(key).sort());
  });

  it("out-of-order delivery: ts (and a device's seq) decrease inside the window, the set of readings is unchanged", () => {
    const d = of(F, 'h-ooo');
    let decreasing = 0;
    for (let i = 1; i < d.length; i++) if (d[i]!.ts < d[i - 1]!.ts) decreasing++;
    expect(decreasing).toBeGreaterThan(5);
    const perDev = new Map<string, number>();
    let seqBack = 0;
    for (const l of d) {
      if ((perDev.get(l.dev) ?? 0) > l.seq) seqBack++;
      perDev.set(l.dev, Math.max(perDev.get(l.dev) ?? 0, l.seq));
    }
    expect(seqBack).toBeGreaterThan(0);
    expect(d.map(key).sort()).toEqual(of(C, 'h-ooo').map(key).sort());
    // Outside the window (and its delays), the order is the clean one.
    expect(d.filter((l) => l.ts < START + 14 * H).map(key)).toEqual(
      of(C, 'h-ooo')
        .filter((l) => l.ts < START + 14 * H)
        .map(key),
    );
  });

  it('clock skew: readings measured in the window carry ts + 2 h, the others are untouched', () => {
    const clean = new Map(of(C, 'h-skew').map((l) => [key(l), l.ts]));
    let shifted = 0;
    for (const l of of(F, 'h-skew')) {
      const t = clean.get(key(l))!;
      if (inWindow(t, 40, 44)) {
        expect(l.ts - t).toBe(2 * H);
        shifted++;
      } else expect(l.ts).toBe(t);
    }
    expect(shifted).toBeGreaterThan(20);
  });

  it('malformed payloads: exactly the injected lines fail JSON or checkReading, and each variant appears', () => {
    const bad: string[] = [];
    for (const line of lines(faulty)) {
      let ok = false;
      try {
        ok = checkReading(JSON.parse(line), START + 10 * 24 * H) === null;
      } catch {
        ok = false;
      }
      if (!ok) bad.push(line);
    }
    expect(bad).toHaveLength(10);
    for (const b of bad) expect(b).toContain('"h-bad"');
    expect(bad.filter((b) => !b.endsWith('}')).length).toBeGreaterThan(0); // not JSON
    expect(bad.some((b) => b.includes('teleporter'))).toBe(true); // unknown kind
    expect(bad.some((b) => b.includes('"ts":0'))).toBe(true); // clock not set
  });

  it('a home without faults is identical in both runs', () => {
    expect(of(F, 'h-ref')).toEqual(of(C, 'h-ref'));
  });
});
