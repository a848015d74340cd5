// A fall, end to end through a real broker and ingest (the centre as `testbed up` wires it, in
// process): a gateway publishes it, and it arrives as an alert on all three channels — MQTT
// lab/v1/{site}/alerts, server-sent events at /api/v1/alerts/stream, and a webhook served by a
// real local HTTP server that fails the first delivery (so the retry is exercised). Then the
// alert is acknowledged over the API and that event arrives too. On the embedded store and on
// a real influxd.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { rmSync } from 'node:fs';
import mqtt from 'mqtt';
import { loadConfig } from '../../lib/config.ts';
import { startCentre, type Centre } from '../../cli/centre.ts';
import { cliActor } from '../../registry/index.ts';
import { freePort, startInfluxd, tempDir, waitFor, type ServerHandle } from '../support/servers.ts';
import type { Alert, AlertEventType } from '../../monitor/alerts.ts';

/** What all three channels carry: monitor/delivery.ts's eventBody, parsed. */
interface EventBody {
  event: { id: number; type: AlertEventType; at: number; actor: string | null };
  alert: Alert;
}

let influx: ServerHandle;
beforeAll(async () => {
  influx = await startInfluxd();
});
afterAll(async () => {
  await influx?.stop();
});

describe.each(['sqlite', 'influx'] as const)('a fall becomes an alert on MQTT, SSE and a webhook (%s)', (storeKind) => {
  let dir: string;
  let centre: Centre;
  let hook: Server;
  const hookBodies: { headers: Record<string, unknown>; body: EventBody }[] = [];
  let hookCalls = 0;
  let http: string;
  let token: string;

  beforeAll(async () => {
    dir = tempDir('testbed-monitor-e2e-');
    hook = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        hookCalls++;
        if (hookCalls === 1) return void res.writeHead(503).end('busy'); // first delivery fails: retried
        hookBodies.push({ headers: req.headers, body: JSON.parse(body) });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    const hookPort = (hook.address() as { port: number }).port;
    const cfg = loadConfig({
      env: {
        TESTBED_DATA_DIR: dir,
        TESTBED_HTTP_PORT: String(await freePort()),
        TESTBED_MQTT_PORT: String(await freePort()),
        TESTBED_MQTT_WS_PORT: '0',
        TESTBED_MONITOR_PASSWORD: 'monitor-secret',
        TESTBED_MONITOR_WEBHOOKS: `http://127.0.0.1:${hookPort}/alerts`,
        TESTBED_LOG_LEVEL: 'silent',
        ...(storeKind === 'influx'
          ? { TESTBED_INFLUX_URL: influx.url, TESTBED_INFLUX_DB: `e2e${Math.random().toString(36).slice(2, 8)}` }
          : {}),
      },
    });
    centre = await startCentre(cfg, { roles: ['broker', 'ingest', 'http'] });
    http = `http://127.0.0.1:${centre.httpPort}`;
    const a = cliActor();
    const user = await centre.registry.createUser(a, { name: 'coordinator on call', role: 'admin' });
    token = (await centre.registry.createToken(a, user.id)).token;
  });
  afterAll(async () => {
    await centre?.close();
    await new Promise((r) => hook?.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  it('delivers opened and acknowledged events on every channel', async () => {
    const { credentials } = await centre.registry.createGateway(cliActor(), { siteId: 'esite', gateway: 'gw1' }, { createSite: true });
    // MQTT subscriber on the site's alert topic (the monitor account may read every lab/v1 topic).
    const sub = await mqtt.connectAsync(centre.mqttUrl, { username: 'svc-monitor', password: 'monitor-secret', clean: true });
    const mqttEvents: EventBody[] = [];
    sub.on('message', (_t, p) => mqttEvents.push(JSON.parse(p.toString())));
    await sub.subscribeAsync('lab/v1/esite/alerts', { qos: 1 });
    // SSE client.
    const sse = await fetch(`${http}/api/v1/alerts/stream`, { headers: { authorization: `Bearer ${token}` } });
    expect(sse.status).toBe(200);
    expect(sse.headers.get('content-type')).toMatch(/text\/event-stream/);
    const sseEvents: { event: string; id: string; data: EventBody }[] = [];
    const reader = sse.body!.getReader();
    void (async () => {
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
        if (done) return;
        buf += Buffer.from(value!).toString('utf8');
        for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const f = Object.fromEntries(
            block
              .split('\n')
              .filter((l) => /^(id|event|data):/.test(l))
              .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]),
          );
          if (f.data) sseEvents.push({ event: f.event!, id: f.id!, data: JSON.parse(f.data) });
        }
      }
    })();
    // The gateway reports a fall.
    const gw = await mqtt.connectAsync(centre.mqttUrl, { username: credentials.username, password: credentials.password, clean: true });
    const ts = Date.now();
    await gw.publishAsync(
      'lab/v1/esite/gw1/up',
      JSON.stringify({
        gw: 'gw1',
        batch: 1,
        sent: ts,
        readings: [{ dev: 'radar-1', kind: 'fall', seq: 1, ts, v: { fall: true, state: 'fall', confidence_pct: 90 } }],
      }),
      { qos: 1 },
    );

    const opened = await waitFor(
      'the fall alert on MQTT',
      async () => mqttEvents.find((e) => e.event.type === 'opened' && e.alert.rule === 'fall'),
      10_000,
    );
    expect(opened.alert).toMatchObject({
      site: 'esite',
      gateway: 'gw1',
      device: 'radar-1',
      severity: 'critical',
      status: 'open',
      measuredAt: ts,
    });
    const onSse = await waitFor(
      'the fall alert on SSE',
      async () => sseEvents.find((e) => e.event === 'opened' && e.data.alert.id === opened.alert.id),
      10_000,
    );
    expect(Number(onSse.id)).toBe(opened.event.id);
    const onHook = await waitFor(
      'the fall alert on the webhook (after one retry)',
      async () => hookBodies.find((b) => b.body.alert.id === opened.alert.id && b.body.event.type === 'opened'),
      15_000,
    );
    expect(onHook.headers['x-testbed-event']).toBe(String(opened.event.id));
    expect(hookCalls).toBeGreaterThanOrEqual(2);

    // Acknowledge over the API: the event follows on every channel.
    const ack = await fetch(`${http}/api/v1/alerts/${opened.alert.id}/ack`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(ack.status).toBe(200);
    expect(((await ack.json()) as { status: string }).status).toBe('acknowledged');
    await waitFor('ack on MQTT', async () => mqttEvents.some((e) => e.event.type === 'acknowledged'), 10_000);
    await waitFor('ack on SSE', async () => sseEvents.some((e) => e.event === 'acknowledged'), 10_000);
    await waitFor('ack on the webhook', async () => hookBodies.some((b) => b.body.event.type === 'acknowledged'), 15_000);

    // The API lists it; the reading reached the store too (ingest acked it); the device is known to health.
    const list = (await (await fetch(`${http}/api/v1/alerts?status=active`, { headers: { authorization: `Bearer ${token}` } })).json()) as {
      id: string;
    }[];
    expect(list.map((a: { id: string }) => a.id)).toContain(opened.alert.id);
    const devices = (await (
      await fetch(`${http}/api/v1/monitor/devices?site=esite`, { headers: { authorization: `Bearer ${token}` } })
    ).json()) as { devices: unknown[] };
    expect(devices.devices[0]).toMatchObject({ device: 'radar-1', kind: 'fall', status: 'ok' });
    await waitFor('the reading stored', async () => (await centre.ingest!.store.queryReadings({ site: 'esite' })).length === 1, 10_000);
    // Without a token: 401; the OpenAPI document lists the routes.
    expect((await fetch(`${http}/api/v1/alerts`)).status).toBe(401);
    const doc = (await (await fetch(`${http}/openapi.json`)).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/api/v1/alerts/stream',
        '/api/v1/monitor/completeness',
        '/api/v1/monitor/compare',
        '/api/v1/monitor/devices',
      ]),
    );
    await reader.cancel().catch(() => undefined);
    await gw.endAsync();
    await sub.endAsync();
  });
});
