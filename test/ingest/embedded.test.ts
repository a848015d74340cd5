import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startMosquitto, type ServerHandle } from '../support/servers.ts';
import { startIngest } from '../../ingest/index.ts';
import { SqliteStore } from '../../ingest/sqlite-store.ts';
import { topics } from '../../devices/index.ts';
import { ackCollector, batchOf, climate, connectAnonymous, testConfig, ResendingPublisher, T0 } from '../support/ingest.ts';

let broker: ServerHandle;
beforeAll(async () => {
  broker = await startMosquitto();
});
afterAll(async () => {
  await broker?.stop();
});

describe('ingest → embedded SqliteStore (no influxUrl)', () => {
  it('stores, dedupes and acks end to end; readings survive a restart of the store', async () => {
    const url = `mqtt://127.0.0.1:${broker.port}`;
    const config = testConfig();
    const ingest = await startIngest({ config, mqtt: { url }, enrich: (_r, site) => (site === 'vejle' ? { home: 'home-7' } : undefined) });
    expect(ingest.store).toBeInstanceOf(SqliteStore);
    const acks = await ackCollector(url);
    const pub = await connectAnonymous(url);
    try {
      const readings = [
        climate('t1', 1),
        climate('t1', 2),
        climate('t2', 1),
        { dev: 'b1', kind: 'button', seq: 3, ts: T0, v: { action: 'sos' } },
        climate('t3', 1, 200),
      ];
      await pub.publishAsync(topics.up('vejle', 'gw-e'), batchOf('gw-e', 1, readings), { qos: 1 });
      expect(await acks.waitForAck('gw-e', 1)).toEqual({ batch: 1, stored: 4, duplicates: 0, rejected: 1 });
      await pub.publishAsync(topics.up('vejle', 'gw-e'), batchOf('gw-e', 1, readings), { qos: 1 });
      expect(await acks.waitForAck('gw-e', 1, 2)).toEqual({ batch: 1, stored: 0, duplicates: 4, rejected: 1 });
      const back = await ingest.store.queryReadings({ site: 'vejle', kind: 'button' });
      expect(back).toEqual([
        {
          kind: 'button',
          site: 'vejle',
          gateway: 'gw-e',
          device: 'b1',
          seq: 3,
          ts: T0,
          v: { action: 'sos' },
          q: {},
          tags: { home: 'home-7' },
        },
      ]);
      expect(await ingest.store.queryReadings({ device: 't1', from: T0 + 1500 })).toHaveLength(1);
      expect(ingest.deadLetters.countByReason()).toEqual({ invalid_reading: 2 }); // the implausible reading, once per copy
    } finally {
      await Promise.all([pub.endAsync(true), acks.close(), ingest.close()]);
    }

    // A fresh ingest on the same data dir: resends are rewritten idempotently (no duplicate rows).
    const again = await startIngest({ config, mqtt: { url } });
    const pubr = await new ResendingPublisher({
      url,
      site: 'vejle',
      gateway: 'gw-f',
      devices: 5,
      batches: 40,
      readingsPerBatch: 50,
      window: 10,
      resendAfterMs: 3000,
    }).start();
    try {
      await pubr.done;
      const store = again.store as SqliteStore;
      expect(store.count({ gateway: 'gw-f' })).toBe(2000);
      expect(store.count({ gateway: 'gw-e' })).toBe(4);
    } finally {
      await pubr.stop();
      await again.close();
    }
  });

  it('keeps the readings of a gateway whose seq counter started again (outbox wiped): new timestamps, not duplicates', async () => {
    const url = `mqtt://127.0.0.1:${broker.port}`;
    const config = testConfig();
    const ingest = await startIngest({ config, mqtt: { url } });
    const acks = await ackCollector(url);
    const pub = await connectAnonymous(url);
    try {
      const first = [climate('r1', 1), climate('r1', 2), climate('r1', 3)];
      await pub.publishAsync(topics.up('vejle', 'gw-r'), batchOf('gw-r', 1, first), { qos: 1 });
      expect(await acks.waitForAck('gw-r', 1)).toEqual({ batch: 1, stored: 3, duplicates: 0, rejected: 0 });
      // The gateway is reinstalled: batch and seq numbering start again, a day later.
      const later = first.map((r) => ({ ...r, ts: r.ts + 86_400_000 }));
      await pub.publishAsync(topics.up('vejle', 'gw-r'), batchOf('gw-r', 1, later), { qos: 1 });
      expect(await acks.waitForAck('gw-r', 1, 2)).toEqual({ batch: 1, stored: 3, duplicates: 0, rejected: 0 });
      // …and a real resend of the new readings is still a duplicate.
      await pub.publishAsync(topics.up('vejle', 'gw-r'), batchOf('gw-r', 1, later), { qos: 1 });
      expect(await acks.waitForAck('gw-r', 1, 3)).toEqual({ batch: 1, stored: 0, duplicates: 3, rejected: 0 });
      expect((ingest.store as SqliteStore).count({ gateway: 'gw-r' })).toBe(6);
    } finally {
      await Promise.all([pub.endAsync(true), acks.close(), ingest.close()]);
    }
  });
});
