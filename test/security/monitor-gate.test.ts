// Identity binding reaches monitoring (issue 11, class 4): a fall a gateway reports for a device
// that is not assigned where it serves — another site's, another organisation's — opens no alert
// and leaves no trace in monitoring's device list; the same fall from the rightful gateway alerts.
// Wired as the centre wires it (cli/centre.ts): ingest's pipeline, gated by the registry's
// attribution, hands each reading it takes to monitoring (onAccepted → observeReading).

import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeadLetterStore } from '../../ingest/dead-letters.ts';
import { Pipeline } from '../../ingest/pipeline.ts';
import { SqliteStore } from '../../ingest/sqlite-store.ts';
import { silentLogger } from '../../lib/log.ts';
import { type MonitorHandle, startMonitor } from '../../monitor/index.ts';
import { Attribution, cliActor, type Registry } from '../../registry/index.ts';
import { type DbKind, freshRegistry } from '../support/registry.ts';
import { tempDir } from '../support/servers.ts';

const T0 = Date.UTC(2025, 2, 3);
let batches = 0;
/** One fall in its own batch (a new batch number each time, as a gateway's outbox gives them). */
const up = (gw: string, dev: string, seq: number, ts: number) =>
  JSON.stringify({ gw, batch: ++batches, sent: ts, readings: [{ dev, kind: 'fall', seq, ts, v: { fall: true, state: 'fall' } }] });

describe.each(['sqlite', 'postgres'] as DbKind[])('monitoring follows identity binding (%s registry)', (kind) => {
  let registry: Registry;
  let closeRegistry: () => Promise<void>;
  let attribution: Attribution;
  let store: SqliteStore;
  let mon: MonitorHandle;
  let pipeline: Pipeline;
  let deadLetters: DeadLetterStore;
  /** What ingest would receive on the topic; resolves once its tick has handled it. */
  const receive = async (topic: string, payload: string) => {
    pipeline.accept(topic, Buffer.from(payload));
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
  };
  const dir = tempDir('testbed-monitor-gate-');
  const now = T0 + 3_600_000;

  beforeAll(async () => {
    const r = await freshRegistry(kind);
    registry = r.registry;
    closeRegistry = r.close;
    const a = cliActor();
    await registry.createOrganisation(a, { id: 'muni', name: 'Municipality', type: 'municipality' });
    await registry.createOrganisation(a, { id: 'vendor-a', name: 'Vendor A', type: 'company' });
    await registry.createOrganisation(a, { id: 'vendor-b', name: 'Vendor B', type: 'company' });
    for (const site of ['site-a', 'site-b']) {
      await registry.createSite(a, { id: site, orgId: 'muni', name: site });
      await registry.createHome(a, { id: `home-${site}`, siteId: site });
    }
    await registry.createDevice(a, { id: 'radar-a', kind: 'fall', vendor: 'v', model: 'm', orgId: 'vendor-a' });
    await registry.createAssignment(a, { deviceId: 'radar-a', homeId: 'home-site-a', from: T0 - 86_400_000 });
    await registry.createGateway(a, { siteId: 'site-a', gateway: 'gw-1', orgId: 'vendor-a' });
    await registry.createGateway(a, { siteId: 'site-a', gateway: 'gw-2', orgId: 'vendor-b' });
    await registry.createGateway(a, { siteId: 'site-b', gateway: 'gw-1', orgId: 'vendor-a' });
    attribution = await new Attribution(registry.db).start(60_000);
    store = new SqliteStore(dir);
    mon = await startMonitor({ dataDir: dir, store, registryDb: registry.db, clock: () => now, tickMs: 0, readingsFromIngest: true });
    deadLetters = new DeadLetterStore(':memory:');
    pipeline = new Pipeline({
      store,
      deadLetters,
      log: silentLogger,
      publishAck: () => undefined,
      enrich: attribution.enrich,
      onAccepted: (site, gateway, reading) => mon.observeReading(site, gateway, reading, now),
    });
  });
  afterAll(async () => {
    await pipeline?.close();
    deadLetters?.close();
    await mon?.close();
    await store?.close();
    attribution?.stop();
    await closeRegistry?.();
    rmSync(dir, { recursive: true, force: true });
  });

  it("opens no alert for a fall reported by another site's gateway or another organisation's gateway", async () => {
    await receive('lab/v1/site-b/gw-1/up', up('gw-1', 'radar-a', 1, now));
    await receive('lab/v1/site-a/gw-2/up', up('gw-2', 'radar-a', 2, now));
    await receive('lab/v1/site-a/gw-2/up', up('gw-2', 'never-registered', 1, now));
    expect(mon.engine.list({}).filter((x) => x.rule === 'fall')).toEqual([]);
    expect([...mon.health.devices.keys()].join(',')).not.toMatch(/radar-a|never-registered/);
    // Kept, with the reason, by ingest: quarantined, not lost.
    expect(
      deadLetters
        .list({})
        .map((d) => d.class)
        .sort(),
    ).toEqual(['foreign_device', 'foreign_device', 'unknown_device']);
  });

  it('a replayed backlog of falls from days ago opens no alert (past window, 24 h by default); a fall of now does', async () => {
    const a = cliActor();
    await registry.createDevice(a, { id: 'radar-old', kind: 'fall', vendor: 'v', model: 'm', orgId: 'vendor-a' });
    await registry.createAssignment(a, { deviceId: 'radar-old', homeId: 'home-site-a', from: T0 - 30 * 86_400_000 });
    await attribution.refresh();
    for (let day = 2; day <= 20; day++) await receive('lab/v1/site-a/gw-1/up', up('gw-1', 'radar-old', day, now - day * 86_400_000));
    expect(mon.engine.list({}).filter((x) => x.device === 'radar-old')).toEqual([]);
    await receive('lab/v1/site-a/gw-1/up', up('gw-1', 'radar-old', 21, now - 60_000));
    expect(mon.engine.list({}).filter((x) => x.device === 'radar-old' && x.rule === 'fall')).toHaveLength(1);
  });

  it('the same fall from the gateway that serves the device alerts, tagged with its home', async () => {
    await receive('lab/v1/site-a/gw-1/up', up('gw-1', 'radar-a', 3, now));
    const falls = mon.engine.list({}).filter((x) => x.rule === 'fall' && x.device === 'radar-a');
    expect(falls).toHaveLength(1);
    expect(falls[0]).toMatchObject({ site: 'site-a', gateway: 'gw-1', device: 'radar-a', home: 'home-site-a' });
  });
});
