// The link to the centre cut by a TCP proxy, through the real centre: `testbed up --no-sim`
// (child), a credential from `testbed gateway add`, `testbed gateway run` (child, real herdsman,
// our emulator) whose MQTT URL points at a proxy in front of the centre's broker. While the
// devices report, the proxy cuts every live connection several times (batches and acks in flight
// die with it) and once refuses connections for a few seconds. Afterwards every device's seq
// is in the store exactly once, contiguous from 1, and the outbox is empty: nothing lost,
// nothing duplicated (resends of batches the centre had already stored are deduped).

import { describe, it, expect, afterAll } from 'vitest';
import { DatabaseSync } from 'node:sqlite';
import { join } from 'node:path';
import { ZStackEmulator } from '../../simulators/zstack/emulator.ts';
import { fleet } from '../../simulators/zstack/models.ts';
import { runTestbed, type CliProcess } from '../support/centre.ts';
import { scrapedMetricSum } from '../support/metrics.ts';
import { tempDir, waitFor } from '../support/servers.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';
import { startCentre, storedReadings, byDevice, gatewayEnv, type TestCentre } from '../support/zigbee.ts';
import { sleep } from '../../lib/timeout.ts';

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

/** Readings still queued in the gateway's outbox, and the last seq it gave each device. */
function outbox(dir: string): { depth: number; lastSeqs: Map<string, number> } {
  const db = new DatabaseSync(join(dir, 'outbox.db'), { readOnly: true });
  try {
    const depth = Number((db.prepare('SELECT COUNT(*) AS n FROM outbox_readings').get() as { n: number }).n);
    const rows = db.prepare('SELECT dev, last FROM outbox_seq').all() as { dev: string; last: number }[];
    return { depth, lastSeqs: new Map(rows.map((r) => [r.dev, Number(r.last)])) };
  } finally {
    db.close();
  }
}

const DEVICES = fleet(10);

describe('the link to the centre cut by a TCP proxy', () => {
  it("stores every device's seq exactly once, contiguous from 1, after repeated cuts and a refused reconnect", async () => {
    const centre: TestCentre = await startCentre('home-p', 'gw-p');
    cleanups.push(() => centre.proc.kill('SIGKILL'));
    const proxy: TcpProxy = await startTcpProxy(centre.proc.mqttPort);
    cleanups.push(() => proxy.close());
    const emu = new ZStackEmulator({ devices: DEVICES, intervalMs: 150, joinSpacingMs: 50 });
    await emu.start();
    cleanups.push(() => emu.stop());
    const gwDir = tempDir('testbed-zbp-gw-');
    const env = gatewayEnv(centre, gwDir, emu.url, {
      TESTBED_MQTT_URL: `mqtt://127.0.0.1:${proxy.port}`,
      TESTBED_ZIGBEE_PERMIT_JOIN_S: '120',
      TESTBED_LOG_LEVEL: 'warn',
    });
    const gw: CliProcess = await runTestbed(['gateway', 'run'], env, { waitForHttp: false });
    cleanups.push(() => gw.kill('SIGKILL'));

    await waitFor(
      'every device stored through the proxy',
      async () => {
        if (gw.proc.exitCode !== null) throw new Error(`gateway exited: ${gw.output().slice(-2000)}`);
        const m = byDevice(storedReadings(centre));
        return DEVICES.every((d) => (m.get(d.ieee)?.length ?? 0) >= 2);
      },
      45_000,
      250,
    );
    expect(proxy.stats().live).toBeGreaterThanOrEqual(1);

    // Cut the live link while the devices report: batches, acks and the
    // gateway's birth message die in flight. The uplink reconnects (every 2 s) and resends.
    const storedBefore = storedReadings(centre).length;
    for (let i = 0; i < 4; i++) {
      await waitFor('the gateway reconnected through the proxy', async () => proxy.stats().live >= 1, 15_000, 50);
      await sleep(700 + i * 300);
      proxy.cut();
    }
    // The link stays down for a while: reconnects are accepted and closed at once.
    await waitFor('the gateway reconnected through the proxy', async () => proxy.stats().live >= 1, 15_000, 50);
    await sleep(500);
    proxy.pause();
    proxy.cut();
    await sleep(4500);
    expect(proxy.stats().refused).toBeGreaterThanOrEqual(1);
    proxy.resume();
    await waitFor('the gateway reconnected after the pause', async () => proxy.stats().live >= 1, 15_000, 50);
    await sleep(1000);

    // Quiet the devices, let the gateway drain, then check the store against the outbox's seqs.
    await emu.stop();
    await waitFor('gateway outbox drained', async () => outbox(gwDir).depth === 0, 30_000, 200);
    const { lastSeqs } = outbox(gwDir);
    const m = byDevice(storedReadings(centre));
    expect(storedReadings(centre).length).toBeGreaterThan(storedBefore + 100);
    for (const d of DEVICES) {
      const seqs = (m.get(d.ieee) ?? []).map((r) => r.seq);
      const last = lastSeqs.get(d.ieee);
      expect(last, `${d.model} ${d.ieee}: readings made`).toBeGreaterThan(2);
      expect(new Set(seqs).size, `${d.model} ${d.ieee}: no duplicate`).toBe(seqs.length);
      expect(seqs[0], `${d.model} ${d.ieee}: starts at 1`).toBe(1);
      expect(seqs[seqs.length - 1], `${d.model} ${d.ieee}: contiguous`).toBe(seqs.length);
      expect(seqs.length, `${d.model} ${d.ieee}: every reading the gateway made`).toBe(last);
    }
    const s = proxy.stats();
    expect(s.cuts).toBe(5);
    expect(s.accepted).toBeGreaterThanOrEqual(6);
    expect(s.live).toBeGreaterThanOrEqual(1);
    const duplicates = await scrapedMetricSum(centre.proc.httpUrl, 'testbed_ingest_readings_total', { result: 'duplicate' });
    console.log(
      `proxy-cut: ${storedReadings(centre).length} readings from ${DEVICES.length} devices; proxy ${JSON.stringify(s)}; ` +
        `resent readings deduped by ingest: ${duplicates}`,
    );
  }, 90_000);
});
