// Class 2 of docs/security.md, "parsing never throws": what one gateway's malformed state, health,
// event or command reply can do to a real `testbed up` (child process) through MQTT alone. Each
// test is an attack that worked before the fix: a monitoring route answering 500, the clock that
// raises alerts stopped for every site, the malformed message kept nowhere, an injected uncaught
// error ending the process.

import type { MqttClient } from 'mqtt';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir, waitFor } from '../support/servers.ts';
import { alertFor, startHostile, upBatch, type Hostile } from '../support/hostile.ts';

interface DeadLetters {
  total: number;
  byReason: Record<string, number>;
  items: { site: string | null; gateway: string | null; class: string; reason: string; raw: string }[];
}

let h: Hostile;
beforeAll(async () => {
  h = await startHostile();
});
afterAll(async () => {
  await h?.stop();
});

const deadLetters = async (gateway: string) => (await h.get(`/api/v1/dead-letters?gateway=${gateway}&limit=100`)).body as DeadLetters;

describe('parsing never throws: gateway state and health', () => {
  it('a health report with an infinite outbox depth, an object adapter or a text age leaves /monitor/gateways answering 200', async () => {
    const gw = await h.gateway('p-health', 'gw-1');
    const hostile = [
      '{"ts":1,"uptimeS":1,"outboxDepth":1e400}',
      '{"ts":1,"uptimeS":1,"outboxDepth":1,"adapter":{}}',
      '{"ts":1,"uptimeS":1,"outboxDepth":1,"outboxOldestAgeS":"a week"}',
      `{"ts":1,"uptimeS":1,"outboxDepth":1,"adapter":"${'x'.repeat(100_000)}"}`,
    ];
    for (const payload of hostile) {
      await gw.publishAsync('lab/v1/p-health/gw-1/health', payload, { qos: 1 });
      await sleepForMonitor();
      const r = await h.get('/api/v1/monitor/gateways');
      expect({ payload: payload.slice(0, 80), status: r.status }).toEqual({ payload: payload.slice(0, 80), status: 200 });
    }
    // A valid report after them is taken: the gateway is known and online.
    await gw.publishAsync('lab/v1/p-health/gw-1/health', '{"ts":1,"uptimeS":5,"outboxDepth":3,"adapter":"down"}', { qos: 1 });
    await waitFor('the valid health report', async () => {
      const r = await h.get('/api/v1/monitor/gateways?site=p-health');
      const g = (r.body as { gateways: Record<string, unknown>[] }).gateways[0];
      return g?.outboxDepth === 3 && g.adapter === 'down';
    });
  });

  it("one gateway's offline state with a junk time does not stop the alerts of every other site", async () => {
    const junk = await h.gateway('p-junk', 'gw-1');
    await junk.publishAsync('lab/v1/p-junk/gw-1/state', '{"online":false,"ts":"yesterday"}', { qos: 1 });
    await junk.publishAsync('lab/v1/p-junk/gw-1/state', '{"online":false,"ts":-1e20}', { qos: 1 });
    await sleepForMonitor();
    // Another site's device reports a flat battery: the rule on the clock must raise it.
    const other = await h.gateway('p-other', 'gw-1');
    const reading = { dev: 'cup-low', kind: 'hydration', seq: 1, ts: Date.now(), v: { intake_ml: 10 }, q: { battery: 3 } };
    await other.publishAsync('lab/v1/p-other/gw-1/up', upBatch('gw-1', 1, reading), { qos: 1 });
    const alert = await alertFor(h, 'the battery-low alert of p-other', (a) => a.rule === 'battery-low' && a.device === 'cup-low');
    expect(alert).toMatchObject({ site: 'p-other', status: 'open' });
    expect((await h.get('/api/v1/monitor/devices')).status).toBe(200);
    expect((await h.get('/api/v1/monitor/gateways')).status).toBe(200);
  });
});

describe('parsing never throws: every gateway channel is validated and dead-lettered with a reason', () => {
  let gw: MqttClient;
  beforeAll(async () => {
    gw = await h.gateway('p-dl', 'gw-1');
  });

  it.each([
    ['state', 'lab/v1/p-dl/gw-1/state', '{"online":"yes"}', 'invalid_state'],
    ['health', 'lab/v1/p-dl/gw-1/health', '{"ts":1,"uptimeS":1,"outboxDepth":-4}', 'invalid_health'],
    ['events', 'lab/v1/p-dl/gw-1/events', '{"ts":1,"type":["device_joined"]}', 'invalid_event'],
    ['a command reply', 'lab/v1/p-dl/gw-1/cmd/permit_join/reply', '{"id":{"$ne":null},"ok":1}', 'invalid_reply'],
    ['state (not JSON)', 'lab/v1/p-dl/gw-1/state', '{"online":tru', 'invalid_json'],
    ['events (nested 5000 deep)', 'lab/v1/p-dl/gw-1/events', `${'['.repeat(5000)}${']'.repeat(5000)}`, 'invalid_json'],
  ])('%s', async (_what, topic, payload, code) => {
    const before = (await deadLetters('gw-1')).byReason[code] ?? 0;
    await gw.publishAsync(topic, payload, { qos: 1 });
    const dl = await waitFor(`a ${code} dead letter`, async () => {
      const d = await deadLetters('gw-1');
      return (d.byReason[code] ?? 0) > before ? d : undefined;
    });
    const item = dl.items.find((i) => i.class === code && i.raw === payload);
    expect(item).toMatchObject({ site: 'p-dl', gateway: 'gw-1' });
    expect(item!.reason.length).toBeGreaterThan(5);
  });

  it('valid state, health, events and replies are not dead-lettered', async () => {
    const before = (await deadLetters('gw-1')).total;
    await gw.publishAsync('lab/v1/p-dl/gw-1/state', JSON.stringify({ online: true, ts: Date.now(), version: '1.0.0' }), { qos: 1 });
    const health = { ts: Date.now(), uptimeS: 3, outboxDepth: 0, adapter: 'none', devices: { 'cup-1': { lastSeen: Date.now() } } };
    await gw.publishAsync('lab/v1/p-dl/gw-1/health', JSON.stringify(health), { qos: 1 });
    await gw.publishAsync('lab/v1/p-dl/gw-1/events', JSON.stringify({ ts: Date.now(), type: 'device_joined', dev: 'cup-1' }), { qos: 1 });
    await gw.publishAsync('lab/v1/p-dl/gw-1/cmd/permit_join/reply', JSON.stringify({ id: 'x', ok: true, seconds: 60 }), { qos: 1 });
    // A marker after them: once it is dead-lettered, the four before it have been judged.
    await gw.publishAsync('lab/v1/p-dl/gw-1/events', '{"marker":true}', { qos: 1 });
    const d = await waitFor('the marker', async () => {
      const x = await deadLetters('gw-1');
      return x.items.some((i) => i.raw === '{"marker":true}') ? x : undefined;
    });
    expect(d.total).toBe(before + 1);
  });
});

describe('parsing never throws: up', () => {
  it("a deeply nested up batch from one gateway is dead-lettered and never stalls another gateway's acks", async () => {
    // Red team, finding 2: ~8,000 levels parsed fine, then String()/JSON.stringify of the reading
    // threw inside ingest's tick — the other gateways' batches of that tick were never acked.
    const good = await h.gateway('p-deep-a', 'gw-1');
    const bad = await h.gateway('p-deep-b', 'gw-1');
    const acks: number[] = [];
    good.on('message', (_t, payload) => acks.push((JSON.parse(payload.toString()) as { batch: number }).batch));
    await good.subscribeAsync('lab/v1/p-deep-a/gw-1/ack', { qos: 1 });
    const deep = `{"gw":"gw-1","batch":7,"sent":1,"readings":[${'['.repeat(8000)}${']'.repeat(8000)}]}`;
    for (let i = 1; i <= 20; i++) {
      await bad.publishAsync('lab/v1/p-deep-b/gw-1/up', deep, { qos: 1 });
      const reading = { dev: `cup-${i}`, kind: 'hydration', seq: i, ts: Date.now(), v: { intake_ml: 100 } };
      await good.publishAsync('lab/v1/p-deep-a/gw-1/up', upBatch('gw-1', i, reading), { qos: 1 });
    }
    await waitFor('every good batch acked', async () => acks.length >= 20);
    expect([...new Set(acks)].sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    const d = await waitFor('the deep batches dead-lettered', async () => {
      const x = (await h.get('/api/v1/dead-letters?site=p-deep-b&limit=100')).body as DeadLetters;
      return x.items.length >= 20 ? x : undefined;
    });
    expect(new Set(d.items.map((i) => `${i.class}: ${i.reason}`))).toEqual(new Set(['invalid_json: nested deeper than 16 levels']));
    const health = (await h.get('/health')).body as { roles: { ingest: { pendingBatches: number } } };
    expect(health.roles.ingest.pendingBatches).toBe(0);
    expect(h.alive()).toBe(true);
  });
});

describe('a last-resort handler keeps the centre serving', () => {
  it('logs an uncaught exception and an unhandled rejection after start-up, and /health still answers', async () => {
    // Injected into the real process: a throw outside any handler, as a bug reachable by input would.
    const dir = tempDir('testbed-inject-');
    const inject = join(dir, 'inject.mjs');
    writeFileSync(
      inject,
      // Once the centre is up (it installs its handler last), or after 10 s whatever happens.
      'const t0 = Date.now();\n' +
        'const poll = setInterval(() => {\n' +
        '  if (process.listenerCount("uncaughtException") === 0 && Date.now() - t0 < 10000) return;\n' +
        '  clearInterval(poll);\n' +
        '  setTimeout(() => { throw new Error("injected uncaught"); }, 500);\n' +
        '  setTimeout(() => { Promise.reject(new Error("injected rejection")); }, 1000);\n' +
        '}, 100);\n',
    );
    const x = await startHostile({ TESTBED_LOG_LEVEL: 'error' }, `--import=${inject}`);
    try {
      await waitFor(
        'both injected errors logged',
        async () => /injected uncaught/.test(x.centre.output()) && /injected rejection/.test(x.centre.output()),
        15_000,
        100,
      );
      expect(x.alive()).toBe(true);
      expect((await fetch(`${x.centre.httpUrl}/health`)).status).toBe(200);
    } finally {
      await x.stop();
    }
  });
});

/** The monitor takes MQTT messages asynchronously; a QoS 1 puback only says the broker has it. */
const sleepForMonitor = () => new Promise((r) => setTimeout(r, 300));
