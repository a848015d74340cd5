// The uplink against a real Mosquitto, no mocks. The central ingest is built concurrently in
// ingest/, so a small *test acker* (test/support/acker.ts: an MQTT subscriber on
// lab/v1/+/+/up that records every reading it receives and publishes the per-batch ack) stands
// in for the centre. Every test counts: every (device, seq) the gateway accepted must reach the
// acker, and the outbox must end empty. Duplicates at the acker are allowed (ingest dedupes) and
// are counted and printed.

import { describe, it, expect, afterEach } from 'vitest';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { UniqueMessageIdProvider } from 'mqtt';
import { SqliteOutbox, MemoryOutbox, Uplink, type Outbox } from '../../gateway/index.ts';
import { startMosquitto, tempDir, waitFor } from '../support/servers.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';
import { startAcker, firstArrivalOrder, isIncreasing, type TestAcker } from '../support/acker.ts';
import { sleep } from '../../lib/timeout.ts';
import { deviceIds, missingSeqs, reading, startProducer } from '../support/gateway.ts';

const SITE = 'site-a';
let cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.reverse()) await f();
  cleanup = [];
});

async function setup(opts: { proxy?: boolean } = {}) {
  const broker = await startMosquitto();
  cleanup.push(() => broker.stop());
  const acker = await startAcker(broker.port, { reconnectPeriodMs: 50 });
  cleanup.push(() => acker.close());
  let proxy: TcpProxy | undefined;
  if (opts.proxy) {
    proxy = await startTcpProxy(broker.port);
    cleanup.push(() => proxy!.close());
  }
  return { broker, acker, proxy };
}

function sqliteOutbox(): SqliteOutbox {
  const dir = tempDir('testbed-uplink-');
  const ob = new SqliteOutbox(join(dir, 'outbox.db'));
  cleanup.push(() => {
    ob.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return ob;
}

function uplink(port: number, gateway: string, outbox: Outbox, extra: Partial<ConstructorParameters<typeof Uplink>[0]> = {}): Uplink {
  const u = new Uplink({
    url: `mqtt://127.0.0.1:${port}`,
    site: SITE,
    gateway,
    outbox,
    reconnectPeriodMs: 200,
    resendAfterMs: 1500,
    ...extra,
  });
  cleanup.push(() => u.stop());
  return u;
}

function dupReport(name: string, acker: TestAcker, extra: Record<string, unknown> = {}) {
  // Whatever happened, a batch number always carried the same readings.
  expect(acker.counts.batchMismatches).toBe(0);
  console.log(`[gateway ${name}]`, JSON.stringify({ ...acker.counts, ...extra }));
}

describe('uplink', () => {
  it('(b) 5,000 readings: the acker sees every (dev, seq), the outbox ends empty', async () => {
    const { broker, acker } = await setup();
    const ob = sqliteOutbox();
    const up = uplink(broker.port, 'gw-b', ob);
    await up.start();
    await up.waitConnected(10_000);
    const devices = deviceIds(10);
    const lastSeq = new Map<string, number>();
    const t0 = performance.now();
    for (let i = 0; i < 5000; i++) {
      const r = ob.accept(reading(devices[i % 10]!, i));
      lastSeq.set(r.dev, r.seq);
      up.kick();
      if (i % 100 === 99) await new Promise((r) => setImmediate(r)); // let the uplink work while accepting
    }
    const accepted = performance.now();
    await up.drained(30_000);
    const done = performance.now();
    expect(missingSeqs(acker, 'gw-b', lastSeq)).toEqual({});
    expect([...lastSeq.values()]).toEqual(Array(10).fill(500));
    expect(acker.counts.unique).toBe(5000);
    expect(acker.counts.rejected + acker.counts.badBatches).toBe(0);
    expect(acker.maxBatchReadings).toBeLessThanOrEqual(500);
    expect(ob.stats()).toMatchObject({ depth: 0, unbatched: 0, inFlightBatches: 0 });
    const s = up.stats();
    expect(s.acked).toBe(s.sent);
    expect(s.ackedReadings).toBe(5000);
    expect(acker.states.get('gw-b')).toMatchObject({ online: true, version: expect.any(String) });
    // Backlog drain rate: 5,000 more readings queued first, then released in one go.
    for (let i = 0; i < 5000; i++) lastSeq.set(devices[i % 10]!, ob.accept(reading(devices[i % 10]!, i)).seq);
    const t1 = performance.now();
    up.kick();
    await up.drained(30_000);
    const drainMs = performance.now() - t1;
    expect(missingSeqs(acker, 'gw-b', lastSeq)).toEqual({});
    dupReport('b', acker, {
      acceptMs: Math.round(accepted - t0),
      lastAckAfterAcceptMs: Math.round(done - accepted),
      backlogDrainReadingsPerS: Math.round(5000 / (drainMs / 1000)),
      batches: s.sent,
    });
    await up.stop();
    expect(acker.counts.duplicates).toBe(0);
    await sleep(100);
    expect(acker.states.get('gw-b')).toMatchObject({ online: false });
  });

  it('(c) broker stopped and restarted while readings keep coming: every seq arrives, first arrivals in order', async () => {
    const { broker, acker, proxy } = await setup({ proxy: true });
    const ob = sqliteOutbox();
    const up = uplink(proxy!.port, 'gw-c', ob);
    await up.start();
    await up.waitConnected(10_000);
    const devices = deviceIds(5);
    const prod = startProducer(ob, up, devices, 5, 5); // ~1,000 readings/s
    await sleep(1000);
    // The link to the broker stays refused until the stand-in ingest is back and subscribed:
    // a batch published in the instant before it resubscribes would be dropped by the broker
    // (no subscriber) and arrive later by resend — still no loss, but out of first-arrival order.
    proxy!.pause();
    await broker.stop(true);
    const downAt = performance.now();
    await sleep(2500);
    const backlog = ob.stats().depth;
    await broker.restart();
    await acker.subscribed();
    proxy!.resume();
    const upAt = performance.now();
    await up.waitConnected(10_000);
    await sleep(1000);
    await prod.stop();
    await up.drained(30_000);
    const drainedAt = performance.now();
    expect(prod.acceptedOffline).toBeGreaterThan(200);
    expect(backlog).toBeGreaterThan(200);
    expect(missingSeqs(acker, 'gw-c', prod.lastSeq)).toEqual({});
    expect(acker.counts.unique).toBe(prod.accepted);
    for (const dev of devices) {
      const order = firstArrivalOrder(acker.arrivals.get(`gw-c|${dev}`) ?? []);
      expect(order.length).toBe(prod.lastSeq.get(dev));
      expect(isIncreasing(order), `first arrivals of ${dev} in order`).toBe(true);
    }
    expect(ob.stats().depth).toBe(0);
    expect(up.stats().connects).toBeGreaterThanOrEqual(2);
    dupReport('c', acker, {
      accepted: prod.accepted,
      acceptedOffline: prod.acceptedOffline,
      backlogAtRestart: backlog,
      outageMs: Math.round(upAt - downAt),
      drainedAfterLinkBackMs: Math.round(drainedAt - upAt),
      uplink: up.stats(),
    });
  });

  it('(e) link cut by a TCP proxy mid-stream, five times: nothing lost', async () => {
    const { acker, proxy } = await setup({ proxy: true });
    const ob = sqliteOutbox();
    const up = uplink(proxy!.port, 'gw-e', ob, { maxBatchReadings: 50 });
    await up.start();
    await up.waitConnected(10_000);
    const devices = deviceIds(8);
    const lastSeq = new Map<string, number>();
    const TOTAL = 3000;
    let cutsWhileConnected = 0;
    for (let i = 0; i < TOTAL; i++) {
      const r = ob.accept(reading(devices[i % 8]!, i));
      lastSeq.set(r.dev, r.seq);
      up.kick();
      if (i % 20 === 19) await sleep(2); // a steady stream, not one burst
      if (i % 500 === 499 && i < TOTAL - 1) {
        // Cut while batches are on the wire (waiting for the previous reconnect if need be).
        await waitFor('uplink reconnected', async () => up.stats().connected, 10_000, 5);
        if (up.stats().inFlight > 0) cutsWhileConnected++;
        proxy!.cut();
      }
    }
    await up.drained(30_000);
    expect(missingSeqs(acker, 'gw-e', lastSeq)).toEqual({});
    expect(acker.counts.unique).toBe(TOTAL);
    expect(ob.stats().depth).toBe(0);
    expect(proxy!.stats().cuts).toBe(5);
    expect(up.stats().connects).toBeGreaterThanOrEqual(6);
    dupReport('e', acker, { accepted: TOTAL, cutsWithBatchesInFlight: cutsWhileConnected, uplink: up.stats() });
  });

  it('(g) batches the centre never acks are resent after resendAfterMs with the same number and readings', async () => {
    const { broker, acker } = await setup();
    const ob = sqliteOutbox();
    const up = uplink(broker.port, 'gw-g', ob, { maxBatchReadings: 10, window: 4, resendAfterMs: 500 });
    await up.start();
    await up.waitConnected(10_000);
    acker.pause(); // ingest down: batches reach the broker, nobody acks
    const lastSeq = new Map<string, number>();
    for (let i = 0; i < 100; i++) {
      const r = ob.accept(reading(`dev-${i % 3}`, i));
      lastSeq.set(r.dev, r.seq);
    }
    up.kick();
    await sleep(1300); // two resend rounds of the same four batches, nothing new numbered
    expect(up.stats()).toMatchObject({ sent: 4, inFlight: 4, acked: 0 });
    expect(up.stats().resent).toBeGreaterThanOrEqual(4);
    expect(ob.stats()).toMatchObject({ depth: 100, unbatched: 60, inFlightBatches: 4 });
    const t0 = performance.now();
    acker.resume();
    await up.drained(10_000);
    const ms = performance.now() - t0;
    expect(missingSeqs(acker, 'gw-g', lastSeq)).toEqual({});
    expect(acker.counts.unique).toBe(100);
    // The four resent at the next resend round (≤ 500 ms + a tick); the six never sent follow
    // as soon as acks free the window, not on a timer ((f) shows the same at 70,000 batches).
    expect(ms).toBeLessThan(2000);
    expect(up.stats().sent).toBe(10);
    dupReport('g', acker, { uplink: up.stats(), drainAfterResumeMs: Math.round(ms) });
  });

  it('stop() then start() again on the same Uplink (how simulators take a gateway offline) loses nothing', async () => {
    const { broker, acker } = await setup();
    const ob = new MemoryOutbox();
    const up = uplink(broker.port, 'gw-s', ob, { maxBatchReadings: 20 });
    const lastSeq = new Map<string, number>();
    const add = (n: number) => {
      for (let i = 0; i < n; i++) lastSeq.set(`dev-${i % 4}`, ob.accept(reading(`dev-${i % 4}`, i)).seq);
      up.kick();
    };
    await up.start();
    add(200);
    await up.drained(10_000);
    await up.stop();
    await sleep(100);
    expect(acker.states.get('gw-s')).toMatchObject({ online: false });
    add(200); // offline: stays in the outbox
    await sleep(200);
    expect(ob.stats().depth).toBe(200);
    await up.start();
    await up.drained(10_000);
    expect(missingSeqs(acker, 'gw-s', lastSeq)).toEqual({});
    expect(acker.counts.unique).toBe(400);
    expect(acker.states.get('gw-s')).toMatchObject({ online: true });
    expect(up.stats()).toMatchObject({ acked: 20, ackedReadings: 400, connects: 2 });
  });

  it('ignores unreadable and unknown acks', async () => {
    const { broker, acker } = await setup();
    const ob = new MemoryOutbox();
    const up = uplink(broker.port, 'gw-h', ob);
    await up.start();
    await up.waitConnected(10_000);
    acker.pause();
    ob.accept(reading('dev-0', 0));
    up.kick();
    await waitFor('batch in flight', async () => up.stats().inFlight === 1, 5000);
    const { connect } = await import('mqtt');
    const other = connect(`mqtt://127.0.0.1:${broker.port}`);
    other.on('error', () => undefined);
    await new Promise((r) => other.once('connect', r));
    await other.publishAsync('lab/v1/site-a/gw-h/ack', 'not json', { qos: 1 });
    await other.publishAsync('lab/v1/site-a/gw-h/ack', JSON.stringify({ batch: 999, stored: 1, duplicates: 0, rejected: 0 }), { qos: 1 });
    await sleep(200);
    expect(ob.stats().depth).toBe(1);
    expect(up.stats()).toMatchObject({ acked: 0, duplicateAcks: 1, inFlight: 1 });
    await other.publishAsync(
      'lab/v1/site-a/gw-h/ack',
      JSON.stringify({ batch: ob.unackedBatches()[0], stored: 1, duplicates: 0, rejected: 0 }),
      { qos: 1 },
    );
    await up.drained(5000);
    await other.endAsync();
  });

  it('(f) an outage backlog of 70,000 messages (> 65,535 message ids) is fully delivered', async () => {
    const { broker, acker, proxy } = await setup({ proxy: true });
    const ob = new MemoryOutbox();
    // One reading per batch: 70,000 batches = 70,000 QoS 1 publishes, more than the 65,535
    // message ids MQTT has. The default mqtt.js id provider silently loses queued messages
    // beyond that; the uplink must use UniqueMessageIdProvider and keep the backlog in its outbox.
    const up = uplink(proxy!.port, 'gw-f', ob, { maxBatchReadings: 1, window: 200, resendAfterMs: 3000 });
    await up.start();
    await up.waitConnected(10_000);
    expect(up.messageIdProvider).toBeInstanceOf(UniqueMessageIdProvider);
    proxy!.pause(); // the link stays down until the stand-in ingest is back (see (c))
    await broker.stop(true);
    await waitFor('the uplink to see the outage', async () => !up.stats().connected, 10_000);
    const devices = deviceIds(7);
    const lastSeq = new Map<string, number>();
    for (let i = 0; i < 70_000; i++) {
      const r = ob.accept(reading(devices[i % 7]!, i));
      lastSeq.set(r.dev, r.seq);
      if (i % 5000 === 0) up.kick();
    }
    up.kick();
    await sleep(300);
    // Nothing was handed to the MQTT client while offline: the backlog is in the outbox.
    expect(up.stats()).toMatchObject({ connected: false, inFlight: 0 });
    expect(ob.stats()).toMatchObject({ depth: 70_000, unbatched: 70_000 });
    await broker.restart();
    await acker.subscribed();
    proxy!.resume();
    const t0 = performance.now();
    await up.drained(60_000);
    const ms = performance.now() - t0;
    expect(missingSeqs(acker, 'gw-f', lastSeq)).toEqual({});
    expect(acker.counts.unique).toBe(70_000);
    const s = up.stats();
    expect(s.acked).toBe(70_000);
    expect(s.sent).toBe(70_000);
    dupReport('f', acker, { drainMs: Math.round(ms), batchesPerS: Math.round(70_000 / (ms / 1000)), uplink: s });
  });
});
