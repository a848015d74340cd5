// Monitoring driven by simulator scenarios with known answers, on both stores (embedded SQLite
// and a real influxd): silence flagged within the kind's window and not before, absences
// suppressing it, completeness equal to the known delivered fraction, seq gaps counted as lost,
// escalation of an unacknowledged alert, and site comparison reproducing known rates.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { SqliteStore, InfluxStore, DeadLetterStore, type ReadingStore } from '../../ingest/index.ts';
import { startMonitor, type MonitorHandle } from '../../monitor/index.ts';
import { cliActor, type Registry } from '../../registry/index.ts';
import { startInfluxd, tempDir, type ServerHandle } from '../support/servers.ts';
import { DAY, HOUR, START, deliveries, pilot, registerPilot, toPoints, upPayload, writeAll } from '../support/monitor.ts';

let influx: ServerHandle;
beforeAll(async () => {
  influx = await startInfluxd();
});
afterAll(async () => {
  await influx?.stop();
});

async function makeStore(kind: 'sqlite' | 'influx', dir: string): Promise<ReadingStore> {
  if (kind === 'sqlite') return new SqliteStore(dir);
  const s = new InfluxStore({
    url: influx.url,
    db: `m${Math.random().toString(36).slice(2, 8)}`,
    api: 'v1',
    createDb: true,
    spoolDir: dir,
    deadLetters: new DeadLetterStore(dir),
  });
  await s.init();
  return s;
}

// A climate sensor (heartbeat every 10 min, silent after 1 h) made silent from day 1 00:00 for 12 h.
const SILENT_AT = START + DAY;
const sc = pilot(
  [{ id: 'tsite', homes: ['h1'] }],
  [
    { kind: 'climate', room: 'living' },
    { kind: 'hydration', room: 'kitchen', id: 'cup' },
    { kind: 'fall', room: 'wearable', id: 'wfall' },
  ],
  [{ type: 'device-silent', site: 'tsite', home: 'h1', device: 'living-climate', at: '1d', duration: '12h' }],
);

describe.each(['sqlite', 'influx'] as const)('monitoring on %s', (storeKind) => {
  let dir: string;
  let store: ReadingStore;
  let registry: Registry;
  let participant: string;
  let now = START;
  let mon: MonitorHandle;
  const all = deliveries(sc);

  beforeAll(async () => {
    dir = tempDir('testbed-monitor-');
    store = await makeStore(storeKind, dir);
    const r = await registerPilot(dir, sc);
    registry = r.registry;
    participant = r.participants.get('h1')!;
    mon = await startMonitor({ dataDir: dir, store, registryDb: registry.db, clock: () => now, tickMs: 0 });
  });
  afterAll(async () => {
    await mon?.close();
    await store?.close();
    await registry?.db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Feeds what the gateway delivered up to `until` (arrival = delivery time), moving the clock. */
  let fed = 0;
  const feedUntil = (until: number) => {
    while (fed < all.length && all[fed]!.at <= until) {
      const d = all[fed++]!;
      now = d.at;
      if (d.type === 'reading') {
        const { site: _s, gw, home: _h, ...reading } = d.reading;
        mon.observe(`lab/v1/${d.reading.site}/${gw}/up`, upPayload(gw, [reading]), d.at);
      }
      mon.tick(now);
    }
    now = until;
  };

  it('flags a silent device within its kind’s window and not before, with the cause', () => {
    feedUntil(SILENT_AT + 10 * 60_000);
    const dev = [...mon.health.devices.values()].find((d) => d.device === 'h1-living-climate')!;
    const last = dev.lastTs;
    expect(last).toBeLessThan(SILENT_AT);
    expect(last).toBeGreaterThan(SILENT_AT - 10 * 60_000 - 1);
    const status = (at: number) => mon.health.deviceStatus(dev, at, 15);
    expect(status(last + 20 * 60_000 - 1000).status).toBe('ok');
    expect(status(last + 20 * 60_000 + 1000).status).toBe('late');
    expect(status(last + HOUR - 1000).status).toBe('late');
    const silent = status(last + HOUR + 1000);
    expect(silent.status).toBe('silent');
    expect(silent.cause).toBe('device-silent');
    // The alert: not before the window, raised within it.
    feedUntil(last + HOUR - 1000);
    mon.tick(now);
    expect(mon.engine.list({ rule: 'device-silent', status: 'active' })).toHaveLength(0);
    feedUntil(last + HOUR + 2000);
    mon.tick(now);
    const alerts = mon.engine.list({ rule: 'device-silent', status: 'active' });
    expect(alerts).toHaveLength(1);
    expect(alerts[0]!.device).toBe('h1-living-climate');
    expect(alerts[0]!.participant).toBe(participant);
    // It resolves itself once the device reports again (fault ends at 12 h).
    feedUntil(SILENT_AT + 12 * HOUR + 15 * 60_000);
    expect(mon.engine.list({ rule: 'device-silent', status: 'active' })).toHaveLength(0);
    expect(mon.engine.list({ rule: 'device-silent', status: 'resolved' })[0]!.resolvedBy).toBe('system:monitor');
  });

  it('an absence suppresses the silence alarm', async () => {
    // Participant in hospital from day 2 00:00; the climate device goes quiet then (nothing fed).
    const away = START + 2 * DAY;
    await registry.createAbsence(cliActor(), { participantId: participant, from: away, to: away + DAY, reason: 'hospital-stay' });
    await mon.view.refresh();
    feedUntil(away);
    fed = all.length; // nothing more arrives
    now = away + 3 * HOUR;
    mon.tick(now);
    expect(mon.engine.list({ rule: 'device-silent', status: 'active' })).toHaveLength(0);
    const dev = [...mon.health.devices.values()].find((d) => d.device === 'h1-living-climate')!;
    expect(mon.health.deviceStatus(dev, now, 15).status).toBe('silent');
  });

  it('completeness equals the known fraction delivered; a seq gap is counted as lost', async () => {
    // Drop 5 climate readings on day 0 (lost in transit): seq 20..24.
    const points = toPoints(all, (r) => r.dev === 'h1-living-climate' && r.seq >= 20 && r.seq < 25);
    await writeAll(store, points);
    if (store instanceof InfluxStore) await store.drained();
    const days = await mon.completeness.participantDays({ from: START, to: START + 3 * DAY, utcOffsetMin: 60, now: START + 3 * DAY }, null);
    expect(days.map((d) => d.date)).toEqual(['2025-01-06', '2025-01-07', '2025-01-08']);
    const climate = (i: number) => days[i]!.devices.find((d) => d.device === 'h1-living-climate')!;
    // Day 0: every hour has readings (5 dropped in a row within ~1 h leave at most one slot thin, never empty).
    expect(climate(0).expectedSlots).toBe(24);
    expect(climate(0).lost).toBe(5);
    expect(climate(0).received).toBe(144 - 5);
    // Day 1: silent 00:00–12:00 → 12 of 24 hourly slots.
    expect(climate(1).expectedSlots).toBe(24);
    expect(climate(1).coveredSlots).toBe(12);
    // 12 h of 10-min heartbeats (the report at the end of the silence may fall on either side).
    expect(climate(1).received).toBeGreaterThanOrEqual(72);
    expect(climate(1).received).toBeLessThanOrEqual(73);
    expect(climate(1).lost).toBe(0);
    expect(climate(1).cause).toBe('partly-silent');
    expect(days[1]!.reasons.join('\n')).toMatch(/h1-living-climate: 12 of 24 slots missing — device silent part of the day/);
    // Day 2: absent all day (hospital) → nothing expected.
    expect(days[2]!.absentHours).toBe(24);
    expect(days[2]!.expectedSlots).toBe(0);
    expect(days[2]!.completeness).toBeNull();
    // Loss accounting per device.
    const loss = await mon.completeness.loss({ from: START, to: START + 3 * DAY, utcOffsetMin: 60, now: START + 3 * DAY }, null);
    expect(loss.find((d) => d.device === 'h1-living-climate')!.lost).toBe(5);
    expect(loss.find((d) => d.device === 'h1-cup')!.lost).toBe(0);
  });

  it('an unacknowledged fall escalates; an acknowledged one does not', () => {
    const t0 = START + 2 * DAY + 13 * HOUR;
    now = t0;
    const fall = (seq: number) => upPayload('gw-h1', [{ dev: 'h1-wfall', kind: 'fall', seq, ts: now, v: { fall: true, state: 'fall' } }]);
    const events: string[] = [];
    const off = mon.engine.subscribe((e) => events.push(`${e.type}:${e.alert.rule}`));
    mon.observe('lab/v1/tsite/gw-h1/up', fall(9001), now);
    mon.observe('lab/v1/tsite/gw-h1/up', fall(9001), now); // a resend: no second alert
    const [a] = mon.engine.list({ rule: 'fall', status: 'open' });
    expect(a).toBeDefined();
    expect(a!.severity).toBe('critical');
    mon.tick(t0 + 5 * 60_000 - 1000);
    expect(mon.engine.get(a!.id)!.escalatedAt).toBeNull();
    now = t0 + 5 * 60_000 + 1000;
    mon.tick(now);
    expect(mon.engine.get(a!.id)!.escalatedAt).toBe(now);
    // A second fall, acknowledged in time: no escalation.
    mon.engine.resolve(a!.id, 'tester');
    mon.engine.label(a!.id, 'tester', 'true');
    mon.observe('lab/v1/tsite/gw-h1/up', fall(9002), now);
    const [b] = mon.engine.list({ rule: 'fall', status: 'open' });
    mon.engine.acknowledge(b!.id, 'tester');
    mon.tick(now + 10 * 60_000);
    expect(mon.engine.get(b!.id)!.escalatedAt).toBeNull();
    off();
    expect(events.filter((e) => e.endsWith(':fall'))).toEqual([
      'opened:fall',
      'escalated:fall',
      'resolved:fall',
      'labelled:fall',
      'opened:fall',
      'acknowledged:fall',
    ]);
  });
});
