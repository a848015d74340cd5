// Quotas per gateway at ingest (issue 11, class 3; docs/security.md): distinct devices, readings
// per second, dead-letter bytes, InfluxDB tag cardinality. Real Mosquitto, real ingest on the
// embedded store and on a real influxd; the gateway side is a plain mqtt.js client.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topics } from '../../devices/index.ts';
import { startIngest, type IngestHandle } from '../../ingest/index.ts';
import { sleep } from '../../lib/timeout.ts';
import { ackCollector, batchOf, climate, connectAnonymous, testConfig } from '../support/ingest.ts';
import { influxQuery, startInfluxd, startMosquitto, type ServerHandle } from '../support/servers.ts';

let broker: ServerHandle;
let influx: ServerHandle;
const url = () => `mqtt://127.0.0.1:${broker.port}`;
/** The running ingest; each test starts its own and closes it, so that one ingest alone answers each batch. */
let current: IngestHandle | undefined;

beforeAll(async () => {
  [broker, influx] = await Promise.all([startMosquitto(), startInfluxd()]);
});
afterAll(async () => {
  await current?.close();
  await Promise.all([broker?.stop(), influx?.stop()]);
});

async function ingestWith(overrides: Parameters<typeof testConfig>[0]): Promise<IngestHandle> {
  await current?.close();
  current = await startIngest({ config: testConfig(overrides), mqtt: { url: url() } });
  return current;
}

describe('quotas per gateway', () => {
  it('a gateway inventing device ids gets the ids beyond its quota quarantined, not stored nor remembered', async () => {
    const ingest = await ingestWith({ ingestMaxDevicesPerGateway: 3 });
    const acks = await ackCollector(url());
    const pub = await connectAnonymous(url());
    try {
      const readings = Array.from({ length: 10 }, (_, i) => climate(`fake-${i}`, 1));
      await pub.publishAsync(topics.up('qs', 'gw-a'), batchOf('gw-a', 1, readings), { qos: 1 });
      expect(await acks.waitForAck('gw-a', 1)).toEqual({ batch: 1, stored: 3, duplicates: 0, rejected: 7 });
      // Another gateway has its own quota.
      await pub.publishAsync(topics.up('qs', 'gw-b'), batchOf('gw-b', 1, [climate('fake-9', 1)]), { qos: 1 });
      expect(await acks.waitForAck('gw-b', 1)).toMatchObject({ stored: 1, rejected: 0 });
      expect((await ingest.store.queryReadings({ gateway: 'gw-a' })).map((r) => r.device).sort()).toEqual(['fake-0', 'fake-1', 'fake-2']);
      const dl = ingest.deadLetters.list({ gateway: 'gw-a' });
      expect(dl).toHaveLength(7);
      expect(new Set(dl.map((d) => d.class))).toEqual(new Set(['device_quota']));
      expect(ingest.stats().trackedDevices).toBe(4);
      // A known device keeps reporting normally.
      await pub.publishAsync(topics.up('qs', 'gw-a'), batchOf('gw-a', 2, [climate('fake-0', 2)]), { qos: 1 });
      expect(await acks.waitForAck('gw-a', 2)).toMatchObject({ stored: 1, rejected: 0 });
    } finally {
      await pub.endAsync(true);
      await acks.close();
    }
  });

  it('a flooding gateway is slowed down, not served: over its rate a batch is left unacked and stored once resent', async () => {
    // 20 readings/s with a 10 s burst: 200 at once, then 20 per second.
    const ingest = await ingestWith({ ingestMaxReadingsPerS: 20 });
    const acks = await ackCollector(url());
    const pub = await connectAnonymous(url());
    try {
      const burst = Array.from({ length: 200 }, (_, i) => climate('flood-1', i + 1));
      await pub.publishAsync(topics.up('qs', 'gw-r'), batchOf('gw-r', 1, burst), { qos: 1 });
      expect(await acks.waitForAck('gw-r', 1)).toMatchObject({ stored: 200 });
      const next = batchOf(
        'gw-r',
        2,
        Array.from({ length: 20 }, (_, i) => climate('flood-1', 201 + i)),
      );
      await pub.publishAsync(topics.up('qs', 'gw-r'), next, { qos: 1 });
      await sleep(300);
      expect(acks.acks.filter((a) => a.gateway === 'gw-r' && a.ack.batch === 2)).toEqual([]);
      expect(ingest.stats().throttled).toBe(1);
      expect(ingest.deadLetters.count()).toBe(0); // nothing of the flood lands in the dead letters
      await sleep(1200); // the bucket has 20 again
      await pub.publishAsync(topics.up('qs', 'gw-r'), next, { qos: 1 });
      expect(await acks.waitForAck('gw-r', 2)).toEqual({ batch: 2, stored: 20, duplicates: 0, rejected: 0 });
      expect(await ingest.store.queryReadings({ device: 'flood-1' })).toHaveLength(220);
    } finally {
      await pub.endAsync(true);
      await acks.close();
    }
  });

  it("garbage from one gateway is capped at its dead-letter bytes, oldest dropped and counted; other gateways' are kept", async () => {
    const ingest = await ingestWith({ deadLetterMaxBytes: 20_000 });
    const pub = await connectAnonymous(url());
    try {
      await pub.publishAsync(topics.up('qs', 'gw-ok'), 'not json at all', { qos: 1 });
      const junk = `{${'x'.repeat(1000)}`;
      for (let i = 0; i < 100; i++) await pub.publishAsync(topics.up('qs', 'gw-junk'), `${junk}${i}`, { qos: 1 });
      const until = Date.now() + 10_000;
      while (ingest.stats().deadLetters < 101 && Date.now() < until) await sleep(50);
      expect(ingest.stats().deadLetters).toBe(101);
      const kept = ingest.deadLetters.list({ gateway: 'gw-junk', limit: 1000 });
      expect(ingest.deadLetters.bytesOf('qs', 'gw-junk')).toBeLessThanOrEqual(20_000);
      expect(kept.length).toBeGreaterThan(10);
      expect(kept.length).toBeLessThan(20);
      expect(kept[0]!.raw).toBe(`${junk}99`); // the newest survive
      expect(ingest.deadLetters.dropped().bytes).toBe(100 - kept.length);
      expect(ingest.deadLetters.list({ gateway: 'gw-ok' })).toHaveLength(1);
    } finally {
      await pub.endAsync(true);
    }
  });

  it('InfluxDB tag cardinality stays bounded: 50 invented ids make 3 device series', async () => {
    const ingest = await ingestWith({ influxUrl: influx.url, influxDb: 'quotas', ingestMaxDevicesPerGateway: 3 });
    const acks = await ackCollector(url());
    const pub = await connectAnonymous(url());
    try {
      const readings = Array.from({ length: 50 }, (_, i) => climate(`card-${i}`, 1));
      await pub.publishAsync(topics.up('qs', 'gw-i'), batchOf('gw-i', 1, readings), { qos: 1 });
      expect(await acks.waitForAck('gw-i', 1)).toMatchObject({ stored: 3, rejected: 47 });
      const values = await influxQuery(influx.url, 'quotas', 'SHOW TAG VALUES FROM climate WITH KEY = "device"');
      expect(values.map((v) => v.value).sort()).toEqual(['card-0', 'card-1', 'card-2']);
      expect(ingest.deadLetters.countByReason()).toEqual({ device_quota: 47 });
    } finally {
      await pub.endAsync(true);
      await acks.close();
    }
  });
});
