// Fault tests that count: every (device, seq) stored exactly once, whatever failed in between.

import { describe, it, expect } from 'vitest';
import { DatabaseSync } from 'node:sqlite';
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { startInfluxd, startMosquitto, influxQuery, waitFor } from '../support/servers.ts';
import { startIngest } from '../../ingest/index.ts';
import { ResendingPublisher, testConfig } from '../support/ingest.ts';
import { sleep } from '../../lib/timeout.ts';

/** count, distinct count and max of seq per device must all equal the device's last seq. */
async function expectExactlyOnce(influxUrl: string, db: string, expected: Map<string, number>): Promise<void> {
  const counts = await influxQuery(influxUrl, db, 'SELECT count(seq) AS n, count(distinct(seq)) AS d FROM climate GROUP BY device');
  const maxes = await influxQuery(influxUrl, db, 'SELECT max(seq) AS m FROM climate GROUP BY device');
  // influxQuery flattens series; GROUP BY device keeps the series order by device name.
  const devices = [...expected.keys()].sort();
  expect(counts).toHaveLength(devices.length);
  const seen = devices.map((d, i) => ({ device: d, n: counts[i]!.n, d: counts[i]!.d, m: maxes[i]!.m }));
  expect(seen).toEqual(devices.map((d) => ({ device: d, n: expected.get(d), d: expected.get(d), m: expected.get(d) })));
}

describe('faults', () => {
  it('(a) InfluxDB stopped mid-stream: the spool grows on disk, drains when it is back; every seq exactly once', async () => {
    const [influx, broker] = await Promise.all([startInfluxd(), startMosquitto()]);
    const url = `mqtt://127.0.0.1:${broker.port}`;
    const ingest = await startIngest({
      config: testConfig({ influxUrl: influx.url, influxDb: 'fault_a', influxBatchSize: 1000 }),
      mqtt: { url },
    });
    const pub = new ResendingPublisher({
      url,
      site: 'esbjerg',
      gateway: 'gw-a',
      devices: 20,
      batches: 300,
      readingsPerBatch: 100,
      window: 50,
      resendAfterMs: 1500,
    });
    try {
      const started = Date.now();
      await pub.start();
      await waitFor('a third acked', async () => pub.acked >= 100, 30_000, 5);
      await influx.stop(true);
      await sleep(500); // acks of writes confirmed just before the exit are still on their way
      const ackedWhenStopped = pub.acked;
      await sleep(3000); // the publisher keeps sending and resending
      const depth = ingest.stats().spoolDepth;
      expect(depth).toBeGreaterThan(0);
      expect(pub.acked).toBe(ackedWhenStopped); // nothing acked that InfluxDB has not confirmed
      await influx.restart();
      await pub.done;
      const elapsed = (Date.now() - started) / 1000;
      await waitFor('spool empty', async () => ingest.stats().spoolDepth === 0, 10_000);
      await expectExactlyOnce(influx.url, 'fault_a', pub.expected);
      console.log(
        `fault (a): ${pub.total} readings, spool peaked ≥ ${depth} points while influxd was down, ${pub.resends} resends, ` +
          `done in ${elapsed.toFixed(1)} s; stats ${JSON.stringify(ingest.stats())}`,
      );
    } finally {
      await pub.stop();
      await ingest.close();
      await Promise.all([influx.stop(), broker.stop()]);
    }
  });

  it('(b) ingest SIGKILLed mid-stream and restarted: every seq exactly once', async () => {
    const [influx, broker] = await Promise.all([startInfluxd(), startMosquitto()]);
    const url = `mqtt://127.0.0.1:${broker.port}`;
    const config = testConfig({ influxUrl: influx.url, influxDb: 'fault_b', influxBatchSize: 1000 });
    const env = {
      ...process.env,
      INGEST_MQTT_URL: url,
      TESTBED_DATA_DIR: config.dataDir,
      TESTBED_INFLUX_URL: influx.url,
      TESTBED_INFLUX_DB: 'fault_b',
      TESTBED_INFLUX_BATCH_SIZE: '1000',
      TESTBED_LOG_LEVEL: 'warn',
    };
    let output = '';
    const launch = async (): Promise<ChildProcess> => {
      const child = spawn(process.execPath, ['test/fixtures/ingest-child.ts'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let ready = false;
      child.stdout!.on('data', (d: Buffer) => {
        output += d;
        if (d.toString().includes('ready')) ready = true;
      });
      child.stderr!.on('data', (d: Buffer) => (output += d));
      await waitFor(
        'ingest child ready',
        async () => {
          if (child.exitCode !== null) throw new Error(`ingest child exited ${child.exitCode}: ${output.slice(-2000)}`);
          return ready;
        },
        20_000,
      );
      return child;
    };
    let child = await launch();
    const pub = new ResendingPublisher({
      url,
      site: 'kolding',
      gateway: 'gw-b',
      devices: 20,
      batches: 300,
      readingsPerBatch: 100,
      window: 50,
      resendAfterMs: 1500,
    });
    try {
      await pub.start();
      await waitFor('a third acked', async () => pub.acked >= 100, 30_000, 5);
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      const ackedAtKill = pub.acked;
      const spool = new DatabaseSync(join(config.dataDir, 'influx-spool.sqlite'), { readOnly: true });
      const spooledAtKill = Number((spool.prepare('SELECT coalesce(sum(n), 0) AS n FROM spool').get() as { n: number }).n);
      spool.close();
      await sleep(1000); // batches published now are lost at the broker (clean session) and resent
      child = await launch();
      await pub.done;
      expect(ackedAtKill).toBeLessThan(300);
      await expectExactlyOnce(influx.url, 'fault_b', pub.expected);
      console.log(
        `fault (b): ${pub.total} readings, killed at ${ackedAtKill}/300 batches acked ` +
          `with ${spooledAtKill} points left in the spool, ${pub.resends} resends`,
      );
    } finally {
      await pub.stop();
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
      await Promise.all([influx.stop(), broker.stop()]);
    }
  });
});
