// Site comparison against data with known per-site answers: completeness, fluid intake, alert
// rates and false-alarm rates are reproduced, and the 95% intervals cover them. Plus the interval
// methods themselves against textbook values.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { SqliteStore, type StorePoint } from '../../ingest/index.ts';
import { startMonitor, wilson, poissonRate, meanT, type MonitorHandle } from '../../monitor/index.ts';
import { cliActor, type Registry } from '../../registry/index.ts';
import { tempDir } from '../support/servers.ts';
import { DAY, HOUR, START, pilot, registerPilot, writeAll } from '../support/monitor.ts';

describe('interval methods', () => {
  it('match textbook values', () => {
    const w = wilson(3, 10);
    expect(w.lower).toBeCloseTo(0.1078, 3);
    expect(w.upper).toBeCloseTo(0.6032, 3);
    const p = poissonRate(5, 1);
    expect(p.lower).toBeCloseTo(1.6235, 3);
    expect(p.upper).toBeCloseTo(11.6683, 3);
    const t = meanT([1, 2, 3, 4, 5]);
    expect(t.lower).toBeCloseTo(3 - 2.7764 * Math.sqrt(2.5 / 5), 3);
  });
});

describe('site comparison', () => {
  const DAYS = 10;
  const N = 8;
  const sc = pilot(
    [
      { id: 'site-a', homes: Array.from({ length: N }, (_, i) => `a${i}`) },
      { id: 'site-b', homes: Array.from({ length: N }, (_, i) => `b${i}`) },
    ],
    [
      { kind: 'climate', room: 'living' },
      { kind: 'hydration', room: 'kitchen', id: 'cup' },
    ],
    [],
    DAYS,
  );
  let dir: string;
  let store: SqliteStore;
  let registry: Registry;
  let mon: MonitorHandle;
  const known = new Map<string, { completeness: number[]; intake: number[] }>();
  const now = START + DAYS * DAY;

  beforeAll(async () => {
    dir = tempDir('testbed-compare-');
    store = new SqliteStore(dir);
    const r = await registerPilot(dir, sc);
    registry = r.registry;
    mon = await startMonitor({ dataDir: dir, store, registryDb: registry.db, clock: () => now, tickMs: 0 });
    const points: StorePoint[] = [];
    for (const site of sc.sites) {
      const k = { completeness: [] as number[], intake: [] as number[] };
      known.set(site.id, k);
      site.homes.forEach((h, i) => {
        // Climate: delivers `hours` of 24 hourly slots each day (site a ~90 %, site b ~60 %).
        const hours = site.id === 'site-a' ? 20 + (i % 5) : 12 + (i % 4);
        const ml = site.id === 'site-a' ? 1500 + 100 * i : 1000 + 50 * i;
        let seq = 0;
        let cupSeq = 0;
        for (let d = 0; d < DAYS; d++)
          for (let hr = 0; hr < 24; hr++) {
            const t = START + d * DAY + hr * HOUR;
            if (hr < hours)
              for (let m = 0; m < 6; m++)
                points.push({
                  site: site.id,
                  gateway: `gw-${h.id}`,
                  batch: 1,
                  idx: 0,
                  reading: { dev: `${h.id}-living-climate`, kind: 'climate', seq: ++seq, ts: t + m * 600_000, v: { temperature_c: 21 } },
                });
            const drink = hr >= 7 && hr < 22 ? ml / 15 : 0;
            points.push({
              site: site.id,
              gateway: `gw-${h.id}`,
              batch: 1,
              idx: 0,
              reading: { dev: `${h.id}-cup`, kind: 'hydration', seq: ++cupSeq, ts: t + 1000, v: { intake_ml: drink } },
            });
          }
        k.completeness.push((hours + 24) / 48);
        k.intake.push(ml);
      });
    }
    await writeAll(store, points);
    // Alerts with known counts and labels: site a 3 care alerts per participant (1 in 4 false), site b 1 (all true).
    for (const site of sc.sites)
      site.homes.forEach((h, i) => {
        const n = site.id === 'site-a' ? 3 : 1;
        for (let j = 0; j < n; j++) {
          const a = mon.engine.raise({
            rule: 'fall',
            site: site.id,
            gateway: `gw-${h.id}`,
            device: `${h.id}-x${j}`,
            measuredAt: START + DAY,
            message: 'test',
          })!;
          mon.engine.resolve(a.id, 'tester');
          mon.engine.label(a.id, 'tester', site.id === 'site-a' && (i * n + j) % 4 === 0 ? 'false' : 'true');
        }
      });
  });
  afterAll(async () => {
    await mon?.close();
    await store?.close();
    await registry?.db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reproduces known per-site values and its intervals cover them', async () => {
    const { compareSites } = await import('../../monitor/index.ts');
    // Alerts were opened at the monitor clock (`now`): widen the period to include them.
    const cmp = await compareSites(mon.completeness, mon.engine, { from: START, to: now + 1, utcOffsetMin: 60, now: now + 1 }, null);
    expect(cmp.sites.map((s) => s.site)).toEqual(['site-a', 'site-b']);
    const covers = (i: { lower: number | null; upper: number | null }, x: number) =>
      expect(i.lower! <= x + 1e-9 && x - 1e-9 <= i.upper!).toBe(true);
    for (const s of cmp.sites) {
      const k = known.get(s.site)!;
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      expect(s.participants).toBe(N);
      expect(s.completeness.estimate).toBeCloseTo(mean(k.completeness), 6);
      covers(s.completeness, mean(k.completeness));
      expect(s.completeness.method).toBe('t');
      expect(s.dailyFluidIntakeMl.estimate).toBeCloseTo(mean(k.intake), 3);
      covers(s.dailyFluidIntakeMl, mean(k.intake));
      const weeks = (N * DAYS) / 7;
      const care = s.site === 'site-a' ? 3 * N : N;
      expect(s.participantWeeks).toBeCloseTo(weeks, 2);
      expect(s.careAlertsPerParticipantWeek.estimate).toBeCloseTo(care / weeks, 6);
      covers(s.careAlertsPerParticipantWeek, care / weeks);
      expect(s.careAlertsPerParticipantWeek.method).toBe('poisson-exact');
      expect(s.falseAlarmRate.estimate).toBeCloseTo(s.site === 'site-a' ? 6 / 24 : 0, 6);
      expect(s.falseAlarmRate.method).toBe('wilson');
      expect(s.deviceUptime.estimate).toBe(1);
    }
    // Site a is better than site b and the intervals say so.
    expect(cmp.sites[0]!.completeness.lower!).toBeGreaterThan(cmp.sites[1]!.completeness.upper!);
  });

  it('baseline versus intervention: a paired difference per participant', async () => {
    const { compareSites } = await import('../../monitor/index.ts');
    const cmp = await compareSites(
      mon.completeness,
      mon.engine,
      {
        from: START,
        to: now,
        utcOffsetMin: 60,
        now,
        baseline: { from: START, to: START + 5 * DAY },
        intervention: { from: START + 5 * DAY, to: START + 10 * DAY },
      },
      null,
    );
    const a = cmp.baselineVsIntervention!.sites.find((s) => s.site === 'site-a')!;
    // Nothing changed between the periods: the difference is 0 and the interval covers 0.
    expect(a.difference.completeness.estimate).toBeCloseTo(0, 9);
    expect(a.difference.completeness.n).toBe(N);
    expect(a.difference.dailyFluidIntakeMl.estimate).toBeCloseTo(0, 6);
    void cliActor;
  });
});
