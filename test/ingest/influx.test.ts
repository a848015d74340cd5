import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startInfluxd, startMosquitto, influxQuery, type ServerHandle } from '../support/servers.ts';
import { startIngest, type IngestHandle } from '../../ingest/index.ts';
import { InfluxStore } from '../../ingest/influx-store.ts';
import { topics, type Reading } from '../../devices/index.ts';
import { localMetricSum } from '../support/metrics.ts';
import { ackCollector, batchOf, climate, connectAnonymous, testConfig, T0 } from '../support/ingest.ts';

let influx: ServerHandle;
let broker: ServerHandle;
const mqttUrl = () => `mqtt://127.0.0.1:${broker.port}`;

beforeAll(async () => {
  [influx, broker] = await Promise.all([startInfluxd(), startMosquitto()]);
});
afterAll(async () => {
  await Promise.all([influx?.stop(), broker?.stop()]);
});

async function ingestInto(db: string, extra: Parameters<typeof testConfig>[0] = {}): Promise<IngestHandle> {
  return startIngest({ config: testConfig({ influxUrl: influx.url, influxDb: db, ...extra }), mqtt: { url: mqttUrl() } });
}

describe('ingest → InfluxDB 1.x (v1 /write)', () => {
  const storesOnce =
    'creates the database when missing, stores a valid batch exactly once with the right tags, fields and types, and acks it';
  it(storesOnce, async () => {
    const ingest = await ingestInto('valid');
    const acks = await ackCollector(mqttUrl());
    const pub = await connectAnonymous(mqttUrl());
    try {
      const dbs = await influxQuery(influx.url, 'valid', 'SHOW DATABASES');
      expect(dbs.map((r) => r.name)).toContain('valid');
      const readings: Reading[] = [
        climate('a-living-climate', 1, 21), // whole number, must still be a float field
        { dev: 'a-kitchen-cup', kind: 'hydration', seq: 5, ts: T0 + 500, v: { intake_ml: 150, level_ml: 200 }, q: { battery: 70 } },
        { dev: 'a-bedroom-radar', kind: 'fall', seq: 9, ts: T0 + 700, v: { fall: true, state: 'fall', confidence_pct: 88 } },
        // same device, same millisecond, next seq: a second point, not an overwrite
        { dev: 'a-bedroom-radar', kind: 'fall', seq: 10, ts: T0 + 700, v: { fall: false, state: 'cancelled' } },
      ];
      await pub.publishAsync(topics.up('aarhus', 'gw-1'), batchOf('gw-1', 1, readings), { qos: 1 });
      expect(await acks.waitForAck('gw-1', 1)).toEqual({ batch: 1, stored: 4, duplicates: 0, rejected: 0 });

      const climateRows = await influxQuery(influx.url, 'valid', 'SELECT * FROM climate');
      expect(climateRows).toEqual([
        {
          time: T0 + 1000,
          site: 'aarhus',
          gateway: 'gw-1',
          device: 'a-living-climate',
          temperature_c: 21,
          humidity_pct: 40,
          battery: 90,
          lqi: 100,
          seq: 1,
        },
      ]);
      const fallRows = await influxQuery(influx.url, 'valid', 'SELECT device, fall, state, confidence_pct, seq FROM fall');
      expect(fallRows).toEqual([
        { time: T0 + 700, device: 'a-bedroom-radar', fall: true, state: 'fall', confidence_pct: 88, seq: 9 },
        { time: T0 + 700, device: 'a-bedroom-radar', fall: false, state: 'cancelled', confidence_pct: null, seq: 10 },
      ]);
      const types = Object.fromEntries(
        (await influxQuery(influx.url, 'valid', 'SHOW FIELD KEYS')).map((r) => [r.fieldKey as string, r.fieldType as string]),
      );
      expect(types).toMatchObject({
        temperature_c: 'float',
        humidity_pct: 'float',
        battery: 'integer',
        lqi: 'integer',
        seq: 'integer',
        intake_ml: 'integer',
        level_ml: 'integer',
        fall: 'boolean',
        state: 'string',
        confidence_pct: 'integer',
      });
      // The sub-millisecond digits of the timestamp carry the seq.
      const ns = await fetch(`${influx.url}/query?db=valid&epoch=ns&q=${encodeURIComponent('SELECT seq FROM fall')}`).then(
        (r) => r.json() as Promise<{ results: { series: { values: [number, number][] }[] }[] }>,
      );
      expect(ns.results[0]!.series[0]!.values.map((v) => v[1])).toEqual([9, 10]);

      // queryReadings reads them back (node-influx InfluxQL).
      const back = await ingest.store.queryReadings({ device: 'a-kitchen-cup' });
      expect(back).toEqual([
        {
          kind: 'hydration',
          site: 'aarhus',
          gateway: 'gw-1',
          device: 'a-kitchen-cup',
          seq: 5,
          ts: T0 + 500,
          v: { intake_ml: 150, level_ml: 200 },
          q: { battery: 70 },
          tags: {},
        },
      ]);

      // The same batch again: no new point, acked again, counted as duplicates.
      const dupBefore = await localMetricSum('testbed_ingest_readings_total', { result: 'duplicate' });
      await pub.publishAsync(topics.up('aarhus', 'gw-1'), batchOf('gw-1', 1, readings), { qos: 1 });
      expect(await acks.waitForAck('gw-1', 1, 2)).toEqual({ batch: 1, stored: 0, duplicates: 4, rejected: 0 });
      expect(await localMetricSum('testbed_ingest_readings_total', { result: 'duplicate' })).toBe(dupBefore + 4);
      const counts = await influxQuery(influx.url, 'valid', 'SELECT count(seq) FROM climate, hydration, fall');
      expect(counts.map((r) => r.count)).toEqual([1, 2, 1]);
      expect(ingest.stats()).toMatchObject({ stored: 4, duplicates: 4, acks: 2, connected: true, store: 'influx', spoolDepth: 0 });
    } finally {
      await Promise.all([pub.endAsync(true), acks.close(), ingest.close()]);
    }
  });

  const deadLetters =
    'dead-letters malformed JSON, wrong types, unknown kinds, implausible values, a foreign gw and oversize batches — and keeps running';
  it(deadLetters, async () => {
    const ingest = await ingestInto('bad');
    const acks = await ackCollector(mqttUrl());
    const pub = await connectAnonymous(mqttUrl());
    const up = topics.up('odense', 'gw-2');
    const dlBefore = await localMetricSum('testbed_ingest_dead_letters_total');
    try {
      await pub.publishAsync(up, 'not json {', { qos: 1 });
      await pub.publishAsync(up, Buffer.from([0xff, 0xfe, 0x00, 0x80]), { qos: 1 });
      const mixed = [
        climate('c1', 1, 'x' as unknown as number), // wrong type
        { dev: 'c2', kind: 'teleporter', seq: 1, ts: T0, v: {} }, // unknown kind
        climate('c3', 1, 99), // implausible (> 60 °C)
        climate('c4', 1, 22.5), // fine
      ];
      await pub.publishAsync(up, batchOf('gw-2', 10, mixed), { qos: 1 });
      await pub.publishAsync(up, batchOf('gw-9', 11, [climate('c5', 1)]), { qos: 1 }); // gw does not match the topic
      await pub.publishAsync(
        up,
        batchOf(
          'gw-2',
          12,
          Array.from({ length: 1001 }, (_, i) => climate('c6', i + 1)),
        ),
        { qos: 1 },
      );

      expect(await acks.waitForAck('gw-2', 10)).toEqual({ batch: 10, stored: 1, duplicates: 0, rejected: 3 });
      expect(await acks.waitForAck('gw-2', 11)).toEqual({ batch: 11, stored: 0, duplicates: 0, rejected: 1 });
      expect(await acks.waitForAck('gw-2', 12)).toEqual({ batch: 12, stored: 0, duplicates: 0, rejected: 1001 });

      expect(ingest.deadLetters.countByReason()).toEqual({ invalid_json: 2, invalid_reading: 3, foreign_gateway: 1, oversize: 1 });
      const list = ingest.deadLetters.list({ gateway: 'gw-2', limit: 100 });
      expect(list).toHaveLength(7);
      const byClass = (c: string) => list.filter((d) => d.class === c);
      expect(
        byClass('invalid_json')
          .map((d) => [d.raw, d.encoding])
          .sort(),
      ).toEqual([
        ['//4AgA==', 'base64'],
        ['not json {', 'utf8'],
      ]);
      const readingDls = byClass('invalid_reading').sort((a, b) => a.index! - b.index!);
      expect(readingDls.map((d) => [d.batch, d.index, d.site])).toEqual([
        [10, 0, 'odense'],
        [10, 1, 'odense'],
        [10, 2, 'odense'],
      ]);
      expect(readingDls[0]!.reason).toMatch(/temperature_c: expected number/);
      expect(readingDls[1]!.reason).toMatch(/unknown kind/);
      expect(readingDls[2]!.reason).toMatch(/implausible/);
      expect(JSON.parse(readingDls[1]!.raw)).toMatchObject({ dev: 'c2', kind: 'teleporter' });
      expect(byClass('foreign_gateway')[0]).toMatchObject({ batch: 11, index: null });
      expect(JSON.parse(byClass('foreign_gateway')[0]!.raw).gw).toBe('gw-9');
      expect(byClass('oversize')[0]!.reason).toMatch(/1001 exceeds/);
      expect(await localMetricSum('testbed_ingest_dead_letters_total')).toBe(dlBefore + 7);

      // Still running: the next valid batch is stored and acked.
      await pub.publishAsync(up, batchOf('gw-2', 13, [climate('c7', 1)]), { qos: 1 });
      expect(await acks.waitForAck('gw-2', 13)).toEqual({ batch: 13, stored: 1, duplicates: 0, rejected: 0 });
      const rows = await influxQuery(influx.url, 'bad', 'SELECT device, temperature_c FROM climate');
      expect(rows.map((r) => r.device).sort()).toEqual(['c4', 'c7']);
    } finally {
      await Promise.all([pub.endAsync(true), acks.close(), ingest.close()]);
    }
  });

  it('a partial write (field type conflict) dead-letters only the bad point with InfluxDB’s reason; the rest is stored', async () => {
    await fetch(`${influx.url}/query?q=${encodeURIComponent('CREATE DATABASE partial')}`, { method: 'POST' });
    // temperature_c becomes a string field in this shard: every float temperature_c is now refused.
    const pre = await fetch(`${influx.url}/write?db=partial&precision=ms`, {
      method: 'POST',
      body: `climate,device=legacy,gateway=old,site=s temperature_c="x" ${T0}`,
    });
    expect(pre.status).toBe(204);
    const ingest = await ingestInto('partial');
    const acks = await ackCollector(mqttUrl());
    const pub = await connectAnonymous(mqttUrl());
    try {
      const readings: Reading[] = [
        ...Array.from(
          { length: 6 },
          (_, i): Reading => ({ dev: 'cup', kind: 'hydration', seq: i + 1, ts: T0 + i * 1000, v: { intake_ml: 100 + i } }),
        ),
        climate('thermo', 1, 21.5),
        ...Array.from(
          { length: 5 },
          (_, i): Reading => ({ dev: 'door', kind: 'door', seq: i + 1, ts: T0 + i * 1000, v: { open: i % 2 === 0 } }),
        ),
      ];
      await pub.publishAsync(topics.up('s', 'gw-3'), batchOf('gw-3', 1, readings), { qos: 1 });
      expect(await acks.waitForAck('gw-3', 1)).toEqual({ batch: 1, stored: 11, duplicates: 0, rejected: 1 });
      const dls = ingest.deadLetters.list({});
      expect(dls).toHaveLength(1);
      expect(dls[0]).toMatchObject({ class: 'store_rejected', site: 's', gateway: 'gw-3', batch: 1, index: 6 });
      expect(dls[0]!.reason).toMatch(/field type conflict/);
      expect(dls[0]!.raw).toMatch(/^climate,device=thermo,gateway=gw-3,site=s temperature_c=21.5/);
      const counts = await influxQuery(influx.url, 'partial', 'SELECT count(seq) FROM hydration, door');
      expect(counts.map((r) => r.count)).toEqual([5, 6]); // door, hydration (alphabetical)
      expect(ingest.stats().spoolDepth).toBe(0);
    } finally {
      await Promise.all([pub.endAsync(true), acks.close(), ingest.close()]);
    }
  });

  it('a database dropped while running is created again and the write retried (HTTP 404 → CREATE DATABASE)', async () => {
    const ingest = await ingestInto('dropme');
    const acks = await ackCollector(mqttUrl());
    const pub = await connectAnonymous(mqttUrl());
    try {
      await pub.publishAsync(topics.up('s', 'gw-d'), batchOf('gw-d', 1, [climate('d', 1)]), { qos: 1 });
      await acks.waitForAck('gw-d', 1);
      await influxQuery(influx.url, 'dropme', 'DROP DATABASE dropme');
      await pub.publishAsync(topics.up('s', 'gw-d'), batchOf('gw-d', 2, [climate('d', 2)]), { qos: 1 });
      expect(await acks.waitForAck('gw-d', 2)).toEqual({ batch: 2, stored: 1, duplicates: 0, rejected: 0 });
      expect((await influxQuery(influx.url, 'dropme', 'SELECT seq FROM climate')).map((r) => r.seq)).toEqual([2]);
    } finally {
      await Promise.all([pub.endAsync(true), acks.close(), ingest.close()]);
    }
  });

  it('InfluxStore alone: the spool survives a restart and drains into InfluxDB', async () => {
    const cfg = testConfig({ influxUrl: influx.url, influxDb: 'spool' });
    const { DeadLetterStore } = await import('../../ingest/dead-letters.ts');
    const dl = new DeadLetterStore(cfg.dataDir);
    // Not init()ed: nothing is sent, points only reach the spool.
    const first = InfluxStore.fromConfig(cfg, dl);
    const pending = first.write(
      Array.from({ length: 50 }, (_, i) => ({ site: 's', gateway: 'g', batch: 1, idx: i, reading: climate('d', i + 1) })),
    );
    expect(first.depth()).toBe(50);
    await first.close();
    await expect(pending).rejects.toThrow(/closed/);
    const second = InfluxStore.fromConfig(cfg, dl);
    expect(second.depth()).toBe(50);
    await second.init();
    await second.drained();
    const rows = await influxQuery(influx.url, 'spool', 'SELECT count(seq) FROM climate');
    expect(rows[0]!.count).toBe(50);
    await second.close();
    dl.close();
  });
});
