// Faults that count. A real gateway uplink (SQLite outbox) streams readings into a split centre
// — `testbed broker` and `testbed ingest` as separate processes, a real influxd — while we
// kill -9 ingest, stop and restart influxd, and kill -9 the broker. Afterwards every device's
// seq must be in InfluxDB exactly once: no gap, no duplicate.

import { describe, it, expect, afterAll } from 'vitest';
import { join } from 'node:path';
import { startInfluxd, tempDir, influxQuery, waitFor, type ServerHandle } from '../support/servers.ts';
import { runTestbed, testbed, type CliProcess } from '../support/centre.ts';
import { SqliteOutbox, Uplink } from '../../gateway/index.ts';
import { silentLogger } from '../../lib/log.ts';
import { sleep } from '../../lib/timeout.ts';

const DEVICES = [
  { dev: 'motion-hall', kind: 'motion' as const, v: (i: number) => ({ motion: i % 2 === 0 }) },
  { dev: 'climate-living', kind: 'climate' as const, v: (i: number) => ({ temperature_c: 20 + (i % 10) / 10 }) },
  { dev: 'cup-kitchen', kind: 'hydration' as const, v: (i: number) => ({ intake_ml: i % 300 }) },
];

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

describe('nothing lost through crashes and outages', () => {
  it('stores every (device, seq) exactly once after ingest kill -9, influxd restart and broker kill -9', async () => {
    const influx: ServerHandle = await startInfluxd();
    cleanups.push(() => influx.stop());
    const password = 'ingest-secret-for-the-test';
    const brokerEnv = { TESTBED_DATA_DIR: tempDir('testbed-broker-'), TESTBED_INGEST_PASSWORD: password };
    let broker: CliProcess = await runTestbed(['broker'], brokerEnv);
    const mqttPort = broker.mqttPort;
    cleanups.push(() => broker.kill('SIGKILL'));
    const ingestEnv = {
      TESTBED_DATA_DIR: tempDir('testbed-ingest-'),
      TESTBED_INGEST_PASSWORD: password,
      TESTBED_MQTT_URL: `mqtt://127.0.0.1:${mqttPort}`,
      TESTBED_INFLUX_URL: influx.url,
    };
    let ingest: CliProcess = await runTestbed(['ingest'], ingestEnv);
    const ingestHttp = ingest.httpPort;
    cleanups.push(() => ingest.kill('SIGKILL'));

    const cred = JSON.parse(await testbed(['gateway', 'add', '--site', 'faults', '--gateway', 'gw-1'], brokerEnv)) as {
      username: string;
      password: string;
    };
    const outbox = new SqliteOutbox(join(tempDir('testbed-gw-'), 'outbox.db'));
    const uplink = new Uplink({
      url: `mqtt://127.0.0.1:${mqttPort}`,
      username: cred.username,
      password: cred.password,
      site: 'faults',
      gateway: 'gw-1',
      outbox,
      resendAfterMs: 2000,
      log: silentLogger,
    });
    cleanups.push(async () => {
      await uplink.stop();
      outbox.close();
    });
    await uplink.start();

    // A steady producer: 3 devices, one reading each every 2 ms (~1,500 readings/s in all).
    const produced = new Map<string, number>(DEVICES.map((d) => [d.dev, 0]));
    let producing = true;
    const producer = (async () => {
      let i = 0;
      while (producing) {
        for (const d of DEVICES) {
          outbox.accept({ dev: d.dev, kind: d.kind, ts: Date.now(), v: d.v(i), q: { battery: 80 } });
          produced.set(d.dev, produced.get(d.dev)! + 1);
        }
        uplink.kick();
        i++;
        await sleep(2);
      }
    })();

    await sleep(1500);
    // 1. ingest dies without warning, misses what is in flight, comes back on its data dir.
    await ingest.kill('SIGKILL');
    await sleep(1500);
    ingest = await runTestbed(['ingest'], ingestEnv, { httpPort: ingestHttp });
    await sleep(1500);
    // 2. InfluxDB goes away; ingest spools to disk, then drains when it is back.
    await influx.stop(true);
    await sleep(2500);
    await influx.restart();
    await sleep(1500);
    // 3. The broker dies (aedes acks QoS 1 before forwarding: in-flight batches are lost there).
    await broker.kill('SIGKILL');
    await sleep(1500);
    broker = await runTestbed(['broker'], brokerEnv, { mqttPort, httpPort: broker.httpPort });
    await sleep(1500);
    producing = false;
    await producer;

    await uplink.drained(60_000);
    for (const d of DEVICES) {
      const n = produced.get(d.dev)!;
      expect(n).toBeGreaterThan(1000);
      const rows = await waitFor(
        `${d.dev}: ${n} readings in InfluxDB`,
        async () => {
          const r = await influxQuery(influx.url, 'testbed', `SELECT seq FROM ${d.kind} WHERE device = '${d.dev}'`);
          return r.length >= n ? r : undefined;
        },
        30_000,
        500,
      );
      const seqs = rows.map((r) => Number(r.seq)).sort((a, b) => a - b);
      // Exactly once: as many points as readings produced, and they are seq 1…n (or 0…n-1) with no gap.
      expect(seqs.length).toBe(n);
      expect(new Set(seqs).size).toBe(n);
      expect(seqs[n - 1]! - seqs[0]!).toBe(n - 1);
    }
    expect(outbox.stats().depth).toBe(0);
  }, 180_000);
});
