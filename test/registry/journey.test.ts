// A new user's journey, end to end, with `testbed up --no-sim` as a child process — on the embedded
// SQLite registry and with TESTBED_DATABASE_URL pointing at PostgreSQL:
//   testbed token create --role admin; then through the API alone: organisations, a site, a
//   trial, homes, participants, devices, assignments and a gateway; the gateway's readings arrive
//   tagged with home and participant; a company token cannot see participants; permit join and
//   revocation reach the connected gateway.

import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import { SqliteStore } from '../../ingest/index.ts';
import { runTestbed, testbed, type CliProcess } from '../support/centre.ts';
import { waitFor } from '../support/servers.ts';
import { DATABASES, freshDatabase, T0, DAY, type FreshDb } from '../support/registry.ts';
import type { Device, GatewayWithCredentials, IssuedToken, Participant, User } from '../../registry/schemas/index.ts';

describe.each(DATABASES)('journey on %s: testbed up --no-sim, token, API, gateway, tagged readings', (kind) => {
  let db: FreshDb;
  let centre: CliProcess;
  let env: Record<string, string>;
  const clients: MqttClient[] = [];
  beforeAll(async () => {
    db = await freshDatabase(kind);
    env = { TESTBED_DATA_DIR: db.dataDir, TESTBED_DATABASE_URL: db.databaseUrl, TESTBED_COMMAND_TIMEOUT_MS: '2000' };
    centre = await runTestbed(['up', '--no-sim'], env);
  }, 60_000);
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
    await centre?.kill();
    await db?.drop();
  });

  it('goes from an empty registry to tagged readings', async () => {
    expect(centre.output()).toContain(kind === 'postgres' ? 'registry    PostgreSQL' : 'registry    SQLite');
    const { token: admin } = JSON.parse(await testbed(['token', 'create', '--role', 'admin'], env)) as { token: string };
    const api = async (method: string, path: string, body?: unknown, token = admin) => {
      const res = await fetch(`${centre.httpUrl}/api/v1/${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      return { status: res.status, body: (await res.json()) as unknown };
    };
    /** The body of a 2xx answer, typed as the route's response (`T`) says. */
    const ok = async <T = unknown>(method: string, path: string, body?: unknown, token = admin): Promise<T> => {
      const r = await api(method, path, body, token);
      expect([200, 201], `${method} ${path} → ${r.status} ${JSON.stringify(r.body)}`).toContain(r.status);
      return r.body as T;
    };

    await ok('POST', 'organisations', { id: 'region-halland', name: 'Region Halland', type: 'region' });
    await ok('POST', 'organisations', { id: 'aquasense', name: 'AquaSense AB', type: 'company' });
    await ok('POST', 'sites', { id: 'halmstad', orgId: 'region-halland', name: 'Halmstad', facilities: ['ordinary-homes'] });
    await ok('POST', 'trials', {
      id: 'hydration',
      orgId: 'region-halland',
      name: 'Smart cups',
      phase: 'micro-trial',
      protocolVersion: '1.0',
      startAt: T0,
      siteIds: ['halmstad'],
    });
    await ok('POST', 'homes', { id: 'home-1', siteId: 'halmstad' });
    await ok('POST', 'homes', { id: 'home-2', siteId: 'halmstad' });
    const anna = (
      await ok<Participant>('POST', 'participants', {
        trialId: 'hydration',
        homeId: 'home-1',
        enrolledAt: T0,
        consentStatus: 'consented',
        consentScope: ['hydration'],
        legalBasis: 'consent',
      })
    ).id as string;
    const bo = (
      await ok<Participant>('POST', 'participants', {
        trialId: 'hydration',
        homeId: 'home-2',
        enrolledAt: T0,
        consentStatus: 'consented',
        legalBasis: 'consent',
      })
    ).id as string;
    await ok('POST', 'devices', {
      id: 'cup-1',
      kind: 'hydration',
      vendor: 'AquaSense',
      model: 'SmartCup 2',
      firmware: '2.4.1',
      orgId: 'aquasense',
    });
    await ok('POST', 'assignments', { deviceId: 'cup-1', homeId: 'home-1', from: T0 });
    await ok('POST', 'devices/cup-1/move', { homeId: 'home-2', at: T0 + 10 * DAY });
    // A site gateway (it serves every home at halmstad), so the move is followed by time. A gateway
    // bound to home-1 is not believed about a device assigned to home-2 (test/security/identity.test.ts).
    const { credentials } = await ok<GatewayWithCredentials>('POST', 'gateways', {
      siteId: 'halmstad',
      gateway: 'gw-1',
      orgId: 'aquasense',
    });
    expect(credentials.username).toBe('halmstad.gw-1');

    // The gateway connects with what the API returned (a running `up`, no restart) and sends readings.
    const gw = await mqtt.connectAsync(`mqtt://127.0.0.1:${centre.mqttPort}`, { ...credentials, protocolVersion: 4, reconnectPeriod: 0 });
    clients.push(gw);
    await gw.subscribeAsync('lab/v1/halmstad/gw-1/ack', { qos: 1 });
    await gw.subscribeAsync('lab/v1/halmstad/gw-1/cmd/+', { qos: 1 });
    const acked = new Promise<unknown>((resolve) =>
      gw.on('message', (topic, payload) => topic.endsWith('/ack') && resolve(JSON.parse(payload.toString()))),
    );
    const readings = [1, 2, 3].map((seq) => ({
      dev: 'cup-1',
      kind: 'hydration',
      seq,
      ts: T0 + (seq === 1 ? DAY : seq === 2 ? 11 * DAY : -DAY),
      v: { intake_ml: 150 },
      q: { battery: 80 },
    }));
    await gw.publishAsync('lab/v1/halmstad/gw-1/up', JSON.stringify({ gw: 'gw-1', batch: 1, sent: Date.now(), readings }), { qos: 1 });
    expect(await acked).toMatchObject({ batch: 1, stored: 3 });
    const store = new SqliteStore(db.dataDir);
    try {
      const stored = await store.queryReadings({ device: 'cup-1' });
      expect(Object.fromEntries(stored.map((r) => [r.seq, r.tags]))).toEqual({
        1: { home: 'home-1', participant: anna },
        2: { home: 'home-2', participant: bo },
        3: {},
      });
    } finally {
      await store.close();
    }

    // A company sees its device and gateway, never participants.
    const acmeUser = await ok<User>('POST', 'users', { name: 'AquaSense support', role: 'company', orgId: 'aquasense' });
    const { token: company } = await ok<IssuedToken>('POST', `users/${acmeUser.id}/tokens`, { label: 'journey' });
    expect((await api('GET', 'participants', undefined, company)).status).toBe(403);
    expect((await api('GET', `participants/${anna}`, undefined, company)).status).toBe(403);
    expect((await ok<Device[]>('GET', 'devices', undefined, company)).map((d: { id: string }) => d.id)).toEqual(['cup-1']);
    expect(JSON.stringify(await ok('GET', 'devices/cup-1/assignments', undefined, company))).not.toMatch(/P-[0-9A-Z]{6}/);

    // Permit join reaches the gateway (answered here by the test as the gateway), revocation drops it.
    gw.on('message', (topic, payload) => {
      if (topic === 'lab/v1/halmstad/gw-1/cmd/permit_join')
        void gw.publishAsync(`${topic}/reply`, JSON.stringify({ id: JSON.parse(payload.toString()).id, ok: true }), { qos: 1 });
    });
    expect((await ok<{ reply: unknown }>('POST', 'gateways/halmstad.gw-1/permit-join', { seconds: 60 }, company)).reply).toMatchObject({
      ok: true,
    });
    const closed = new Promise<void>((resolve) => gw.once('close', () => resolve()));
    expect((await ok<{ disconnected: number }>('POST', 'gateways/halmstad.gw-1/revoke', undefined, company)).disconnected).toBe(1);
    await closed;
    await expect(
      mqtt.connectAsync(`mqtt://127.0.0.1:${centre.mqttPort}`, { ...credentials, protocolVersion: 4, reconnectPeriod: 0 }),
    ).rejects.toMatchObject({ code: 5 });
    expect((await api('POST', 'gateways/halmstad.gw-1/permit-join', { seconds: 60 }, company)).status).toBe(409);

    // Everything above is in the audit log, with who did it.
    const audit = (await ok('GET', 'audit')) as { actor: string; action: string; resourceType: string }[];
    expect(audit.filter((e) => e.action !== 'read').map((e) => `${e.action} ${e.resourceType}`)).toEqual(
      expect.arrayContaining([
        'create user',
        'create token',
        'create trial',
        'create participant',
        'create gateway',
        'permit-join gateway',
        'revoke gateway',
      ]),
    );
    await waitFor('health', async () => (await fetch(`${centre.httpUrl}/health`)).ok);
  });

  it('the OpenAPI document and /docs describe the registry', async () => {
    const doc = (await (await fetch(`${centre.httpUrl}/openapi.json`)).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/api/v1/participants',
        '/api/v1/gateways/{id}/permit-join',
        '/api/v1/devices/{id}/assignments',
        '/api/v1/audit',
      ]),
    );
    expect((await fetch(`${centre.httpUrl}/docs/`)).status).toBe(200);
  });
});
