// Identity binding (issue 11, class 4; docs/security.md): a reading is attributed to a
// participant only when its device is assigned to a home the sending gateway serves, and a
// gateway operated by one company can never report another company's device. Real broker,
// real ingest on the embedded store, the registry on SQLite and on PostgreSQL.

import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, CredentialStore, type BrokerHandle } from '../../broker/index.ts';
import { checkAck, type Ack } from '../../devices/index.ts';
import { startIngest, SqliteStore, type IngestHandle } from '../../ingest/index.ts';
import { loadConfig } from '../../lib/config.ts';
import { silentLogger } from '../../lib/log.ts';
import { withTimeout } from '../../lib/timeout.ts';
import { Attribution, cliActor, gatewayDirectory, type Registry } from '../../registry/index.ts';
import { DATABASES, freshRegistry, T0, DAY } from '../support/registry.ts';
import { tempDir } from '../support/servers.ts';

const A = cliActor();

describe.each(DATABASES)('identity binding at ingest, registry on %s', (kind) => {
  let registry: Registry;
  let closeRegistry: () => Promise<void>;
  let broker: BrokerHandle;
  let ingest: IngestHandle;
  let store: SqliteStore;
  let attribution: Attribution;
  let url: string;
  let participant: string;
  const clients: MqttClient[] = [];
  const creds: Record<string, { username: string; password: string }> = {};
  let batchNo = 0;

  /** Publishes one batch of hydration readings as `site/gw` and resolves with its ack. */
  const send = async (site: string, gw: string, readings: { dev: string; seq: number; ts: number }[]): Promise<Ack> => {
    const c = await mqtt.connectAsync(url, { ...creds[`${site}.${gw}`]!, reconnectPeriod: 0, connectTimeout: 5000 });
    clients.push(c);
    const batch = ++batchNo;
    await c.subscribeAsync(`lab/v1/${site}/${gw}/ack`, { qos: 1 });
    const acked = new Promise<Ack>((resolve) =>
      c.on('message', (_t, p) => {
        const ack = checkAck(p);
        if (ack?.batch === batch) resolve(ack);
      }),
    );
    const body = readings.map((r) => ({ ...r, kind: 'hydration', v: { intake_ml: 100 }, q: { battery: 90 } }));
    await c.publishAsync(`lab/v1/${site}/${gw}/up`, JSON.stringify({ gw, batch, sent: Date.now(), readings: body }), { qos: 1 });
    return withTimeout(acked, 10_000, `no ack for batch ${batch} from ${site}/${gw}`);
  };
  const stored = async (dev: string, gateway?: string) =>
    (await store.queryReadings({ device: dev, ...(gateway ? { gateway } : {}) })).map((r) => ({ seq: r.seq, tags: r.tags }));
  const deadLettersOf = (gateway: string) => ingest.deadLetters.list({ gateway }).map((d) => ({ class: d.class, reason: d.reason }));

  beforeAll(async () => {
    ({ registry, close: closeRegistry } = await freshRegistry(kind));
    const config = loadConfig({
      env: {},
      overrides: { dataDir: tempDir('testbed-identity-'), mqttHost: '127.0.0.1', mqttPort: 0, mqttWsPort: 0, logLevel: 'silent' },
    });
    const services = [{ username: 'svc-ingest', password: 'ingest-password-for-tests', role: 'ingest' as const }];
    broker = await startBroker({ config, credentials: new CredentialStore(gatewayDirectory(registry)), services, log: silentLogger });
    url = `mqtt://127.0.0.1:${broker.ports.tcp}`;
    attribution = await new Attribution(registry.db).start(200);
    registry.hooks = { changed: () => attribution.refresh() };
    store = new SqliteStore(':memory:');
    ingest = await startIngest({
      config,
      mqtt: { url, username: 'svc-ingest', password: 'ingest-password-for-tests' },
      store,
      enrich: attribution.enrich,
      log: silentLogger,
    });

    await registry.createOrganisation(A, { id: 'region', name: 'Region', type: 'region' });
    await registry.createOrganisation(A, { id: 'acme', name: 'Acme', type: 'company' });
    await registry.createOrganisation(A, { id: 'evil', name: 'Evil', type: 'company' });
    await registry.createSite(A, { id: 'lab', orgId: 'region', name: 'Lab' });
    await registry.createSite(A, { id: 'far', orgId: 'region', name: 'Far' });
    await registry.createTrial(A, {
      id: 'trial',
      orgId: 'region',
      name: 'T',
      phase: 'pilot',
      protocolVersion: '1',
      startAt: T0,
      siteIds: ['lab', 'far'],
    });
    await registry.createHome(A, { id: 'home-1', siteId: 'lab' });
    await registry.createHome(A, { id: 'home-2', siteId: 'lab' });
    await registry.createHome(A, { id: 'home-9', siteId: 'far' });
    participant = (
      await registry.createParticipant(A, {
        trialId: 'trial',
        homeId: 'home-1',
        enrolledAt: T0,
        consentStatus: 'consented',
        legalBasis: 'consent',
      })
    ).id;
    for (const [id, orgId] of [
      ['cup-1', 'acme'],
      ['cup-9', 'acme'],
      ['cup-stock', 'acme'],
      ['evil-cup', 'evil'],
    ] as const)
      await registry.createDevice(A, { id, kind: 'hydration', vendor: 'v', model: 'm', orgId });
    await registry.createAssignment(A, { deviceId: 'cup-1', homeId: 'home-1', from: T0 });
    await registry.createAssignment(A, { deviceId: 'cup-9', homeId: 'home-9', from: T0 });
    for (const [siteId, gateway, orgId, homeId] of [
      ['lab', 'gw-acme', 'acme', undefined],
      ['lab', 'gw-evil', 'evil', undefined],
      ['far', 'gw-far', undefined, undefined],
      ['lab', 'gw-home2', undefined, 'home-2'],
    ] as const) {
      const g = await registry.createGateway(A, { siteId, gateway, ...(orgId ? { orgId } : {}), ...(homeId ? { homeId } : {}) }, {});
      creds[g.gateway.id] = g.credentials;
    }
    expect(attribution.stats().enforcing).toBe(true);
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
    await ingest?.close();
    await store?.close();
    attribution?.stop();
    await broker?.close();
    await closeRegistry?.();
  });

  it("attributes a device's readings when its own company's gateway at its site reports them", async () => {
    expect(await send('lab', 'gw-acme', [{ dev: 'cup-1', seq: 1, ts: T0 + DAY }])).toEqual({
      batch: batchNo,
      stored: 1,
      duplicates: 0,
      rejected: 0,
    });
    expect(await stored('cup-1', 'gw-acme')).toEqual([{ seq: 1, tags: { home: 'home-1', participant } }]);
  });

  it("a gateway of company B reporting company A's device id gets nothing stored or attributed: quarantined", async () => {
    const ack = await send('lab', 'gw-evil', [
      { dev: 'cup-1', seq: 2, ts: T0 + 2 * DAY },
      { dev: 'evil-cup', seq: 1, ts: T0 + 2 * DAY }, // its own device, not yet assigned: stored, attributed to nobody
    ]);
    expect(ack).toMatchObject({ stored: 1, rejected: 1 });
    expect(await stored('cup-1', 'gw-evil')).toEqual([]);
    expect(await stored('evil-cup')).toEqual([{ seq: 1, tags: {} }]);
    expect(deadLettersOf('gw-evil')).toEqual([
      { class: 'foreign_device', reason: "device 'cup-1' belongs to organisation 'acme'; gateway lab/gw-evil is operated by 'evil'" },
    ]);
    // The participant's readings are still only the one from their own gateway.
    expect((await store.queryReadings({})).filter((r) => r.tags.participant === participant)).toHaveLength(1);
  });

  it('a gateway at another site, or bound to another home, cannot report a device assigned elsewhere', async () => {
    expect(await send('far', 'gw-far', [{ dev: 'cup-1', seq: 3, ts: T0 + 3 * DAY }])).toMatchObject({ stored: 0, rejected: 1 });
    expect(await send('lab', 'gw-home2', [{ dev: 'cup-1', seq: 4, ts: T0 + 3 * DAY }])).toMatchObject({ stored: 0, rejected: 1 });
    expect(await stored('cup-1')).toEqual([{ seq: 1, tags: { home: 'home-1', participant } }]);
    expect(deadLettersOf('gw-far').map((d) => d.class)).toEqual(['foreign_device']);
    expect(deadLettersOf('gw-home2').map((d) => d.class)).toEqual(['foreign_device']);
    // The far site's gateway does report its own site's device.
    expect(await send('far', 'gw-far', [{ dev: 'cup-9', seq: 1, ts: T0 + DAY }])).toMatchObject({ stored: 1, rejected: 0 });
    expect(await stored('cup-9')).toEqual([{ seq: 1, tags: { home: 'home-9' } }]);
  });

  it('an id the registry does not know is quarantined with the reason and the raw reading, never stored', async () => {
    const ack = await send('lab', 'gw-acme', [
      { dev: 'ghost-1', seq: 1, ts: T0 + DAY },
      { dev: 'cup-stock', seq: 1, ts: T0 + DAY }, // the operator's own stock, not installed: stored, unattributed
    ]);
    expect(ack).toMatchObject({ stored: 1, rejected: 1 });
    expect(await stored('ghost-1')).toEqual([]);
    expect(await stored('cup-stock')).toEqual([{ seq: 1, tags: {} }]);
    const dl = ingest.deadLetters.list({ gateway: 'gw-acme' });
    expect(dl.map((d) => d.class)).toEqual(['unknown_device']);
    expect(dl[0]!.reason).toBe("device 'ghost-1' is not registered in the trial registry");
    expect(JSON.parse(dl[0]!.raw)).toMatchObject({ dev: 'ghost-1', seq: 1 });
    expect(ingest.stats().quarantined).toBe(4);
  });

  it('a company gateway moved to another company loses its devices at once (the snapshot follows the registry)', async () => {
    await registry.updateGateway(A, 'lab.gw-acme', { orgId: 'evil' });
    expect(await send('lab', 'gw-acme', [{ dev: 'cup-1', seq: 5, ts: T0 + 5 * DAY }])).toMatchObject({ stored: 0, rejected: 1 });
    await registry.updateGateway(A, 'lab.gw-acme', { orgId: 'acme' });
    expect(await send('lab', 'gw-acme', [{ dev: 'cup-1', seq: 6, ts: T0 + 6 * DAY }])).toMatchObject({ stored: 1, rejected: 0 });
  });
});
