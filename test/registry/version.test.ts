// The registry's version (migration 5): what attribution and monitoring poll to know when to
// reload. It moves with every committed change and not with audited reads, and on PostgreSQL its
// order is the commits' order (the counter's row lock serialises the writers that move it).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep } from '../../lib/timeout.ts';
import { audit } from '../../registry/context.ts';
import { cliActor, openRegistry, type Registry, registryVersionOf } from '../../registry/index.ts';
import { type DbKind, freshRegistry } from '../support/registry.ts';

describe.each(['sqlite', 'postgres'] as DbKind[])('registry version (%s)', (kind) => {
  let registry: Registry;
  let second: Registry;
  let close: () => Promise<void>;
  const a = cliActor();

  beforeAll(async () => {
    const r = await freshRegistry(kind);
    registry = r.registry;
    close = r.close;
    // A second connection pool on the same database: another process's worth.
    second = await openRegistry({ databaseUrl: r.db.databaseUrl, dataDir: r.db.dataDir });
    await registry.createOrganisation(a, { id: 'muni', name: 'M', type: 'municipality' });
    await registry.createSite(a, { id: 'site-a', orgId: 'muni', name: 'A' });
    await registry.createTrial(a, {
      id: 't1',
      orgId: 'muni',
      name: 'T',
      phase: 'pilot',
      protocolVersion: '1',
      startAt: 0,
      siteIds: ['site-a'],
    });
    await registry.createHome(a, { id: 'home-1', siteId: 'site-a' });
  });
  afterAll(async () => {
    await second?.db.close();
    await close?.();
  });

  it('moves with a change, not with an audited read (which is still in the audit log)', async () => {
    const before = await registry.version();
    const p = await registry.createParticipant(a, {
      trialId: 't1',
      homeId: 'home-1',
      enrolledAt: 0,
      consentStatus: 'consented',
      legalBasis: 'consent',
    });
    const afterWrite = await registry.version();
    expect(afterWrite).toBe(before + 1);
    const reads = (await registry.listAudit(a, { action: 'read' })).length;
    await registry.getParticipant(a, p.id);
    await registry.listParticipants(a, {});
    expect(await registry.version()).toBe(afterWrite);
    expect((await registry.listAudit(a, { action: 'read' })).length).toBe(reads + 2);
  });

  it('a change that commits later cannot be passed by one that started after it', async () => {
    const before = await registryVersionOf(registry.db);
    let firstCommitted = false;
    const first = registry.db.tx(async (q) => {
      await audit(q, a, 'update', 'test', 'first');
      await sleep(400); // holds the counter's row until it commits
      firstCommitted = true;
    });
    await sleep(100);
    const secondDone = second.createHome(a, { id: 'home-2', siteId: 'site-a' }).then(() => firstCommitted);
    await first;
    // The second writer could only move the counter after the first one committed.
    expect(await secondDone).toBe(true);
    expect(await registryVersionOf(registry.db)).toBe(before + 2);
  });
});
