// Shared by the scope and audit tests (issue 11, classes 5 and 8): a registry on SQLite or the
// run's PostgreSQL with two municipalities (each its own site and trial), a company owning one
// gateway, a participant per site, tokens for every role; the monitor and the dead-letter store
// on it; and the HTTP app as `testbed up` assembles it (registry, dead letters, monitoring, the
// audit sink), called in-process.

import { buildHttpApp, type HttpApp } from '../../http/index.ts';
import { DeadLetterStore } from '../../ingest/dead-letters.ts';
import { deadLetterRoutes } from '../../ingest/routes.ts';
import { SqliteStore } from '../../ingest/sqlite-store.ts';
import { type MonitorHandle, startMonitor } from '../../monitor/index.ts';
import { cliActor, type Registry, registryApi } from '../../registry/index.ts';
import { type DbKind, freshRegistry, injectJson, tokenFor } from './registry.ts';

export const T0 = Date.UTC(2025, 2, 3);
export const ROLES = ['admin', 'coordA', 'coordB', 'company', 'researcher'] as const;
export type Who = (typeof ROLES)[number];

export interface World {
  registry: Registry;
  monitor: MonitorHandle;
  deadLetters: DeadLetterStore;
  app: HttpApp;
  tokens: Record<Who, string>;
  userIds: Record<Who, string>;
  participantA: string;
  participantB: string;
  now: { value: number };
  // biome-ignore lint/suspicious/noExplicitAny: the API's JSON, read freely by the assertions
  call(who: Who | null, method: string, url: string, body?: unknown): Promise<{ status: number; body: any; text: string }>;
  close(): Promise<void>;
}

export async function monitorWorld(kind: DbKind): Promise<World> {
  const reg = await freshRegistry(kind);
  const registry = reg.registry;
  const a = cliActor();
  await registry.createOrganisation(a, { id: 'muni-a', name: 'Municipality A', type: 'municipality' });
  await registry.createOrganisation(a, { id: 'muni-b', name: 'Municipality B', type: 'municipality' });
  await registry.createOrganisation(a, { id: 'vendor', name: 'Vendor AB', type: 'company' });
  const participants: string[] = [];
  for (const [org, site, pid] of [
    ['muni-a', 'site-a', 'P-AAAAAA'],
    ['muni-b', 'site-b', 'P-BBBBBB'],
  ] as const) {
    await registry.createSite(a, { id: site, orgId: org, name: site });
    await registry.createTrial(a, {
      id: `trial-${site}`,
      orgId: org,
      name: `Trial ${site}`,
      phase: 'pilot',
      protocolVersion: '1',
      startAt: T0 - 30 * 86_400_000,
      siteIds: [site],
    });
    await registry.createHome(a, { id: `home-${site}`, siteId: site });
    const p = await registry.createParticipant(a, {
      id: pid,
      trialId: `trial-${site}`,
      homeId: `home-${site}`,
      enrolledAt: T0 - 30 * 86_400_000,
      consentStatus: 'consented',
      legalBasis: 'consent',
    });
    participants.push(p.id);
    await registry.createDevice(a, { id: `cup-${site}`, kind: 'hydration', vendor: 'v', model: 'm', orgId: 'vendor' });
    await registry.createAssignment(a, { deviceId: `cup-${site}`, homeId: `home-${site}`, from: T0 - 30 * 86_400_000 });
  }
  // The company operates gw-1 at site A only; site B's gateways are the municipality's own.
  await registry.createGateway(a, { siteId: 'site-a', gateway: 'gw-1', orgId: 'vendor' });
  await registry.createGateway(a, { siteId: 'site-a', gateway: 'gw-2' });
  await registry.createGateway(a, { siteId: 'site-b', gateway: 'gw-1' });

  const made = {
    admin: await tokenFor(registry, 'admin'),
    coordA: await tokenFor(registry, 'coordinator', 'muni-a'),
    coordB: await tokenFor(registry, 'coordinator', 'muni-b'),
    company: await tokenFor(registry, 'company', 'vendor'),
    researcher: await tokenFor(registry, 'researcher'),
  };
  const tokens = Object.fromEntries(ROLES.map((w) => [w, made[w].token])) as Record<Who, string>;
  const userIds = Object.fromEntries(ROLES.map((w) => [w, made[w].userId])) as Record<Who, string>;

  const now = { value: T0 };
  const store = new SqliteStore(reg.db.dataDir);
  const monitor = await startMonitor({ dataDir: reg.db.dataDir, store, registryDb: registry.db, clock: () => now.value, tickMs: 0 });
  const deadLetters = new DeadLetterStore(reg.db.dataDir);
  const app = await buildHttpApp({
    health: () => ({ status: 'ok', uptimeS: 0, version: 'test', roles: {} }),
    authenticate: (token) => registry.authenticate(token),
    audit: (actor, entry) => registry.recordAudit(actor, entry),
    plugins: [registryApi({ registry }), deadLetterRoutes(deadLetters, { scope: (actor) => registry.reach(actor) }), monitor.plugin],
  });
  await app.ready();

  return {
    registry,
    monitor,
    deadLetters,
    app,
    tokens,
    userIds,
    participantA: participants[0]!,
    participantB: participants[1]!,
    now,
    async call(who, method, url, body) {
      return injectJson(app, method, url, who ? tokens[who] : null, body);
    },
    async close() {
      await app.close();
      await monitor.close();
      deadLetters.close();
      await store.close();
      await reg.close();
    },
  };
}
