// The MQTT path against a real Mosquitto (anonymous), with the gateway tests' acker standing in
// for ingest (it checks each batch with checkBatch and acks per batch). Every (gw, dev, seq) of
// the NDJSON run of the same scenario and seed must arrive; malformed payloads must arrive as
// garbage (bad batches / rejected readings).

import { describe, it, expect, afterEach } from 'vitest';
import { Writable } from 'node:stream';
import { runScenario, replayUci, runLoad, type Credentials } from '../../simulators/index.ts';
import { startMosquitto, waitFor } from '../support/servers.ts';
import { startAcker } from '../support/acker.ts';
import { scenario, parsed } from '../support/simulators.ts';
import { uciSensorsPath } from '../support/datasets.ts';

let cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.reverse()) await f();
  cleanup = [];
});

const provisioned: string[] = [];
const credentials: Credentials = async (site, gw) => {
  provisioned.push(`${site}/${gw}`);
  return { username: `gw-${site}-${gw}`, password: 'secret' };
};

async function setup() {
  const broker = await startMosquitto();
  cleanup.push(() => broker.stop());
  const acker = await startAcker(broker.port, { reconnectPeriodMs: 50 });
  cleanup.push(() => acker.close());
  return { url: `mqtt://127.0.0.1:${broker.port}`, acker };
}

describe('MQTT output', () => {
  it('a scenario run arrives reading for reading, through one uplink per home; malformed payloads arrive as garbage', async () => {
    const { url, acker } = await setup();
    const sc = scenario({
      days: 0.25,
      seed: 4,
      sites: [
        {
          id: 'mq',
          homes: [
            { id: 'h1', devices: 'full' },
            { id: 'h2', resident: 'frail', devices: 'full' },
          ],
        },
      ],
      faults: [
        { type: 'gateway-offline', site: 'mq', home: 'h1', at: '1h', duration: '2h' },
        { type: 'duplicates', site: 'mq', home: 'h2', at: '2h', duration: '2h', probability: 0.3 },
        { type: 'malformed', site: 'mq', home: 'h2', at: '1h', duration: '4h', count: 5 },
      ],
    });
    const chunks: string[] = [];
    const out = new Writable({
      write: (c: Buffer, _e, cb) => {
        chunks.push(c.toString());
        cb();
      },
    });
    await runScenario({ scenario: sc, out });
    const expected = new Map<string, Set<number>>();
    for (const l of parsed(chunks.join(''))) {
      if (typeof l.seq !== 'number' || l.kind === 'teleporter' || l.ts === 0 || !l.dev) continue;
      const k = `${l.gw}|${l.dev}`;
      expected.set(k, (expected.get(k) ?? new Set()).add(l.seq));
    }

    const result = await runScenario({ scenario: sc, url, credentials, resendAfterMs: 1000, drainTimeoutMs: 30_000 });
    expect(provisioned).toEqual(expect.arrayContaining(['mq/gw-h1', 'mq/gw-h2']));
    expect(result.malformed).toBe(5);
    // Every (gw, dev, seq) arrived (the acker ignores the 4 reading-level malformed ones: it rejects them).
    const got = new Map<string, Set<number>>();
    for (const [k, seqs] of acker.arrivals) got.set(k, new Set(seqs));
    expect([...got.keys()].sort()).toEqual([...expected.keys()].sort());
    for (const [k, seqs] of expected)
      expect(
        [...(got.get(k) ?? [])].sort((a, b) => a - b),
        k,
      ).toEqual([...seqs].sort((a, b) => a - b));
    const total = [...expected.values()].reduce((a, s) => a + s.size, 0);
    expect(acker.counts.unique).toBe(total);
    expect(acker.counts.duplicates).toBeGreaterThan(0); // the duplicates fault
    expect(acker.counts.badBatches).toBe(1); // not JSON
    expect(acker.counts.rejected).toBe(4); // bad value, unknown kind, ts 1970, missing field
    // Each virtual gateway said goodbye (retained offline state) when the run ended.
    await waitFor(
      'offline states',
      async () => acker.states.get('gw-h1')?.online === false && acker.states.get('gw-h2')?.online === false,
      5000,
    );
    console.log(
      `[sim] mqtt: ${result.readings} readings delivered, ${acker.counts.unique} unique at the acker, ` +
        `${acker.counts.duplicates} duplicates, ${acker.counts.batches} batches`,
    );
  });

  it('a UCI replay arrives in full', async () => {
    const { url, acker } = await setup();
    const res = await replayUci({
      file: uciSensorsPath('a'),
      home: 'a',
      url,
      credentials,
      speed: 'max',
    });
    expect(res.readings).toBe(818);
    expect(acker.counts.unique).toBe(818);
  });

  it('load: 200 virtual gateways at 2,000 readings/s for 3 s are all acked', async () => {
    const { url, acker } = await setup();
    const report = await runLoad({ url, homes: 200, rate: 2000, durationS: 3, connectPerSecond: 1000, drainTimeoutS: 30 });
    const { seconds, ...summary } = report;
    console.log(`[sim] load: ${JSON.stringify(summary)}`);
    expect(report.sent).toBeGreaterThanOrEqual(5500);
    expect(report.acked).toBe(report.sent);
    expect(acker.counts.unique).toBe(report.sent);
    expect(report.drainS).not.toBeNull();
    expect(seconds.length).toBeGreaterThanOrEqual(3);
  });
});
