// The registry driving the real broker and ingest, in one process, on SQLite and PostgreSQL:
// gateways provisioned through the API connect with the credentials it returned; readings are
// tagged with the home and participant that the assignment history gives at the reading's time
// (checked in the stored readings, before and after a device moves between homes, and after a
// withdrawal); revoking a connected gateway drops it at once and refuses it after; permit join is
// answered by a small MQTT responder standing in for the gateway (the real gateway answers it in
// a later issue), and a gateway that does not answer gives 504.

import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import { loadConfig } from '../../lib/config.ts';
import { silentLogger } from '../../lib/log.ts';
import { startBroker, CredentialStore, type BrokerHandle } from '../../broker/index.ts';
import { startIngest, SqliteStore, type IngestHandle } from '../../ingest/index.ts';
import { Attribution, GatewayCommander, gatewayDirectory } from '../../registry/index.ts';
import type { Registry } from '../../registry/index.ts';
import { audit } from '../../registry/context.ts';
import { waitFor } from '../support/servers.ts';
import { DATABASES, freshRegistry, tokenFor, apiFor, T0, DAY, type Api } from '../support/registry.ts';

describe.each(DATABASES)('registry, broker and ingest together on %s', (kind) => {
  let registry: Registry;
  let closeRegistry: () => Promise<void>;
  let broker: BrokerHandle;
  let ingest: IngestHandle;
  let store: SqliteStore;
  let attribution: Attribution;
  let commander: GatewayCommander;
  let api: Api;
  let admin: string;
  let company: string;
  let url: string;
  const clients: MqttClient[] = [];
  const P: Record<string, string> = {};

  const ok = async (method: string, path: string, body?: unknown, token = admin) => {
    const r = await api.call(method, path, token, body);
    expect([200, 201], `${method} ${path} → ${r.status} ${JSON.stringify(r.body)}`).toContain(r.status);
    return r.body;
  };
  const connectGw = async (cred: { username: string; password: string }) => {
    const c = await mqtt.connectAsync(url, { ...cred, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000 });
    clients.push(c);
    return c;
  };
  let batchNo = 0;
  const publish = async (c: MqttClient, site: string, gw: string, readings: { dev: string; seq: number; ts: number }[]) => {
    const batch = ++batchNo;
    const acked = new Promise<void>((resolve) => {
      const onMsg = (topic: string, payload: Buffer) => {
        if (topic === `lab/v1/${site}/${gw}/ack` && JSON.parse(payload.toString()).batch === batch) {
          c.off('message', onMsg);
          resolve();
        }
      };
      c.on('message', onMsg);
    });
    await c.subscribeAsync(`lab/v1/${site}/${gw}/ack`, { qos: 1 });
    await c.publishAsync(
      `lab/v1/${site}/${gw}/up`,
      JSON.stringify({
        gw,
        batch,
        sent: Date.now(),
        readings: readings.map((r) => ({ ...r, kind: 'hydration', v: { intake_ml: 100 }, q: { battery: 90 } })),
      }),
      { qos: 1 },
    );
    await acked;
  };
  const tagsOf = async (dev: string) => Object.fromEntries((await store.queryReadings({ device: dev })).map((r) => [r.seq, r.tags]));

  beforeAll(async () => {
    ({ registry, close: closeRegistry } = await freshRegistry(kind));
    const config = loadConfig({
      env: {},
      overrides: {
        dataDir: (await import('../support/servers.ts')).tempDir('testbed-live-'),
        mqttHost: '127.0.0.1',
        mqttPort: 0,
        mqttWsPort: 0,
        logLevel: 'silent',
      },
    });
    const services = [
      { username: 'svc-ingest', password: 'ingest-password-for-tests', role: 'ingest' as const },
      { username: 'svc-admin', password: 'admin-password-for-tests', role: 'admin' as const },
    ];
    broker = await startBroker({ config, credentials: new CredentialStore(gatewayDirectory(registry)), services, log: silentLogger });
    url = `mqtt://127.0.0.1:${broker.ports.tcp}`;
    attribution = await new Attribution(registry.db).start(200);
    commander = new GatewayCommander({ url, username: 'svc-admin', password: 'admin-password-for-tests', timeoutMs: 1500 });
    registry.hooks = {
      changed: () => attribution.refresh(),
      disconnect: (u) => broker.disconnect(u),
      command: (s, g, n, p) => commander.send(s, g, n, p),
    };
    store = new SqliteStore(':memory:');
    ingest = await startIngest({
      config,
      mqtt: { url, username: 'svc-ingest', password: 'ingest-password-for-tests' },
      store,
      enrich: attribution.enrich,
      log: silentLogger,
    });
    api = await apiFor(registry);

    admin = (await tokenFor(registry, 'admin')).token;
    await ok('POST', 'organisations', { id: 'region', name: 'Region', type: 'region' });
    await ok('POST', 'organisations', { id: 'acme', name: 'Acme', type: 'company' });
    company = (await tokenFor(registry, 'company', 'acme')).token;
    await ok('POST', 'sites', { id: 'lab', orgId: 'region', name: 'Lab' });
    await ok('POST', 'trials', {
      id: 'trial',
      orgId: 'region',
      name: 'T',
      phase: 'pilot',
      protocolVersion: '1',
      startAt: T0,
      siteIds: ['lab'],
    });
    for (const h of ['home-1', 'home-2', 'home-3']) await ok('POST', 'homes', { id: h, siteId: 'lab' });
    P.one = (
      await ok('POST', 'participants', {
        trialId: 'trial',
        homeId: 'home-1',
        enrolledAt: T0,
        consentStatus: 'consented',
        legalBasis: 'consent',
      })
    ).id;
    P.two = (
      await ok('POST', 'participants', {
        trialId: 'trial',
        homeId: 'home-2',
        enrolledAt: T0,
        consentStatus: 'consented',
        legalBasis: 'consent',
      })
    ).id;
    P.threeA = (
      await ok('POST', 'participants', {
        trialId: 'trial',
        homeId: 'home-3',
        enrolledAt: T0,
        consentStatus: 'consented',
        legalBasis: 'consent',
      })
    ).id;
    P.threeB = (
      await ok('POST', 'participants', {
        trialId: 'trial',
        homeId: 'home-3',
        enrolledAt: T0,
        consentStatus: 'consented',
        legalBasis: 'consent',
      })
    ).id;
    for (const d of ['cup-1', 'cup-3', 'watch-3', 'cup-x'])
      await ok('POST', 'devices', { id: d, kind: 'hydration', vendor: 'Acme', model: 'Cup', orgId: 'acme' });
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
    await commander?.close();
    await ingest?.close();
    await store?.close();
    attribution?.stop();
    await broker?.close();
    await api?.app.close();
    await closeRegistry?.();
  });

  it(
    'tags readings by the assignment at their time: a moved device keeps its old readings under the old home; ' +
      'withdrawal stops attribution',
    async () => {
      const { credentials } = await ok('POST', 'gateways', { siteId: 'lab', gateway: 'gw-1', orgId: 'acme' });
      const gw = await connectGw(credentials);
      await ok('POST', 'assignments', { deviceId: 'cup-1', homeId: 'home-1', from: T0 });
      // Stored while the cup is in home 1.
      await publish(gw, 'lab', 'gw-1', [
        { dev: 'cup-1', seq: 1, ts: T0 - DAY }, // before it was installed anywhere
        { dev: 'cup-1', seq: 2, ts: T0 + DAY },
      ]);
      // The cup moves to home 2 on day 10; participant two withdraws on day 20.
      await ok('POST', 'devices/cup-1/move', { homeId: 'home-2', at: T0 + 10 * DAY });
      await ok('POST', `participants/${P.two}/withdraw`, { at: T0 + 20 * DAY, pastData: 'retain' });
      await publish(gw, 'lab', 'gw-1', [
        { dev: 'cup-1', seq: 3, ts: T0 + 2 * DAY }, // uploaded late, measured before the move
        { dev: 'cup-1', seq: 4, ts: T0 + 11 * DAY },
        { dev: 'cup-1', seq: 5, ts: T0 + 21 * DAY }, // after the withdrawal
        { dev: 'cup-x', seq: 1, ts: T0 + DAY }, // a device assigned nowhere
      ]);
      const tags = await tagsOf('cup-1');
      expect(tags).toEqual({
        1: {},
        2: { home: 'home-1', participant: P.one },
        3: { home: 'home-1', participant: P.one },
        4: { home: 'home-2', participant: P.two },
        5: { home: 'home-2' },
      });
      expect(await tagsOf('cup-x')).toEqual({ 1: {} });
      // The history the tags came from.
      expect((await ok('GET', 'devices/cup-1/assignments')).map((a: { homeId: string; to: number | null }) => [a.homeId, a.to])).toEqual([
        ['home-1', T0 + 10 * DAY],
        ['home-2', null],
      ]);
    },
  );

  it('a shared home tags no single participant; a personal device tags its wearer', async () => {
    const { credentials } = await ok('POST', 'gateways', { siteId: 'lab', gateway: 'gw-3' });
    const gw = await connectGw(credentials);
    await ok('POST', 'assignments', { deviceId: 'cup-3', homeId: 'home-3', from: T0 });
    await ok('POST', 'assignments', { deviceId: 'watch-3', homeId: 'home-3', participantId: P.threeB, from: T0 });
    await publish(gw, 'lab', 'gw-3', [
      { dev: 'cup-3', seq: 1, ts: T0 + DAY },
      { dev: 'watch-3', seq: 1, ts: T0 + DAY },
    ]);
    expect(await tagsOf('cup-3')).toEqual({ 1: { home: 'home-3' } });
    expect(await tagsOf('watch-3')).toEqual({ 1: { home: 'home-3', participant: P.threeB } });
  });

  it('picks up a change made by another process by polling the registry version', async () => {
    // Straight into the database in its own transaction, as the CLI in another process would.
    const before = attribution.stats().version;
    await registry.db.tx(async (q) => {
      await q.run(
        'INSERT INTO assignments (id, device_id, home_id, from_ts, created_at, updated_at) ' +
          "VALUES ('asg-external', 'cup-x', 'home-1', ?, ?, ?)",
        [T0 + 100 * DAY, Date.now(), Date.now()],
      );
      // As every registry writer does: the audit entry, which moves the registry version.
      await audit(q, { id: 'cli:other', role: 'admin', orgId: null }, 'create', 'assignment', 'asg-external');
    });
    await waitFor('the poll to reload', async () => attribution.stats().version > before, 5000);
    expect(attribution.lookup('cup-x', T0 + 101 * DAY)).toEqual({ home: 'home-1', participant: P.one });
  });

  it('revoking a connected gateway drops it now and refuses its next connect', async () => {
    const { credentials } = await ok('POST', 'gateways', { siteId: 'lab', gateway: 'gw-r', orgId: 'acme' });
    const gw = await connectGw(credentials);
    expect(gw.connected).toBe(true);
    const closed = new Promise<void>((resolve) => gw.once('close', () => resolve()));
    const r = await ok('POST', 'gateways/lab.gw-r/revoke', undefined, company);
    expect(r.disconnected).toBe(1);
    await closed;
    await expect(connectGw(credentials)).rejects.toMatchObject({ code: 5 });
    // Re-issued credentials work again; the old password does not.
    const again = await ok('POST', 'gateways/lab.gw-r/credentials');
    expect((await connectGw(again.credentials)).connected).toBe(true);
    await expect(connectGw(credentials)).rejects.toMatchObject({ code: 5 });
  });

  it('permit join: published to the gateway with the admin account, answered by a responder standing in for the gateway', async () => {
    const { credentials } = await ok('POST', 'gateways', { siteId: 'lab', gateway: 'gw-p', orgId: 'acme' });
    const responder = await connectGw(credentials);
    const seen: unknown[] = [];
    responder.on('message', (topic, payload) => {
      if (topic !== 'lab/v1/lab/gw-p/cmd/permit_join') return;
      const cmd = JSON.parse(payload.toString()) as { id: string; seconds: number };
      seen.push(cmd);
      void responder.publishAsync(
        'lab/v1/lab/gw-p/cmd/permit_join/reply',
        JSON.stringify({ id: cmd.id, ok: true, open_until: Date.now() + cmd.seconds * 1000 }),
        { qos: 1 },
      );
    });
    const granted = await responder.subscribeAsync('lab/v1/lab/gw-p/cmd/+', { qos: 1 });
    expect(granted[0]!.qos).not.toBe(128);
    const r = await ok('POST', 'gateways/lab.gw-p/permit-join', { seconds: 120 }, company);
    expect(seen).toEqual([{ seconds: 120, id: expect.any(String) }]);
    expect(r.reply).toMatchObject({ id: (seen[0] as { id: string }).id, ok: true });
    const audit = await ok('GET', 'audit?resourceId=lab.gw-p&action=permit-join');
    expect(audit[0].details).toEqual({ seconds: 120 });
  });

  it('permit join to a gateway that does not answer → 504 after the timeout', async () => {
    await ok('POST', 'gateways', { siteId: 'lab', gateway: 'gw-silent' });
    const started = Date.now();
    const r = await api.call('POST', 'gateways/lab.gw-silent/permit-join', admin, { seconds: 30 });
    expect(r.status).toBe(504);
    expect(r.body.message).toMatch(/did not answer permit_join within 1500 ms/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1400);
  });
});
