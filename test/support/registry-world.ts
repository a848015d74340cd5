// The world the registry API tests share, built through the API on SQLite or PostgreSQL: two
// coordinating organisations (region-a, region-b) each with a site, a trial and homes; two
// companies (acme, bolt) each with a device and a gateway; participants consented and not.
// Tokens: admin, a coordinator of each region, a company user of each company, a researcher.
// Each test file builds its own, so files do not depend on each other's changes.

import { afterAll, beforeAll, expect } from 'vitest';
import type { Registry } from '../../registry/index.ts';
import { type Api, apiFor, DAY, type DbKind, freshRegistry, T0, tokenFor } from './registry.ts';

export type TokenName = 'admin' | 'coordinator' | 'coordinatorB' | 'company' | 'companyB' | 'researcher';

export interface World {
  registry: Registry;
  api: Api;
  /** A token per role (and a second coordinator and company in the other organisations). */
  tok: Record<TokenName, string>;
  /** Ids the registry generated: participants A1 (consented), A2 (pending), B1; an absence of A1; cup-1's assignment. */
  ids: { pA1: string; pA2: string; pB1: string; absence: string; asgCup: string };
  call: Api['call'];
  /** The call's body, after checking its status is one of `status`. */
  // biome-ignore lint/suspicious/noExplicitAny: as Api['call'] (helpers.ts): the API's JSON, untyped in these tests for now
  ok(method: string, url: string, token: string, body?: unknown, status?: number[]): Promise<any>;
}

/** Builds the world before the describe's tests and drops it after them. */
export function useWorld(kind: DbKind): World {
  let close: (() => Promise<void>) | undefined;
  const w = {
    tok: {} as Record<TokenName, string>,
    ids: { pA1: '', pA2: '', pB1: '', absence: '', asgCup: '' },
    call: (...args: Parameters<Api['call']>) => w.api.call(...args),
    async ok(method: string, url: string, token: string, body?: unknown, status = [200, 201]) {
      const r = await w.api.call(method, url, token, body);
      expect(status, `${method} ${url} → ${r.status} ${JSON.stringify(r.body)}`).toContain(r.status);
      return r.body;
    },
  } as World;
  const { tok, ids, ok } = w;

  beforeAll(async () => {
    let registry: Registry;
    ({ registry, close } = await freshRegistry(kind));
    w.registry = registry;
    w.api = await apiFor(registry);
    tok.admin = (await tokenFor(registry, 'admin')).token;
    const admin = tok.admin;
    await ok('POST', 'organisations', admin, { id: 'region-a', name: 'Region A', type: 'region' });
    await ok('POST', 'organisations', admin, { id: 'region-b', name: 'Kommune B', type: 'municipality' });
    await ok('POST', 'organisations', admin, { id: 'acme', name: 'Acme Sensors AB', type: 'company' });
    await ok('POST', 'organisations', admin, { id: 'bolt', name: 'Bolt Care ApS', type: 'company' });
    tok.coordinator = (await tokenFor(registry, 'coordinator', 'region-a')).token;
    tok.coordinatorB = (await tokenFor(registry, 'coordinator', 'region-b')).token;
    tok.company = (await tokenFor(registry, 'company', 'acme')).token;
    tok.companyB = (await tokenFor(registry, 'company', 'bolt')).token;
    tok.researcher = (await tokenFor(registry, 'researcher')).token;

    // region-a's coordinator builds their trial; admin builds region-b's.
    await ok('POST', 'sites', tok.coordinator, { id: 'site-a', name: 'Living lab A', facilities: ['apartments', 'showroom'] });
    await ok('POST', 'sites', admin, { id: 'site-b', orgId: 'region-b', name: 'Care home B', facilities: ['nursing-home'] });
    await ok('POST', 'trials', tok.coordinator, {
      id: 'trial-a',
      name: 'Hydration A',
      phase: 'micro-trial',
      protocolVersion: '1.0',
      startAt: T0,
      siteIds: ['site-a'],
    });
    await ok('POST', 'trials', admin, {
      id: 'trial-b',
      orgId: 'region-b',
      name: 'Falls B',
      phase: 'pilot',
      protocolVersion: '2.1',
      startAt: T0,
      endAt: T0 + 100 * DAY,
      siteIds: ['site-b'],
    });
    await ok('POST', 'homes', tok.coordinator, { id: 'home-a1', siteId: 'site-a', label: 'Flat 1' });
    await ok('POST', 'homes', tok.coordinator, { id: 'home-a2', siteId: 'site-a' });
    await ok('POST', 'homes', admin, { id: 'home-b1', siteId: 'site-b' });
    ids.pA1 = (
      await ok('POST', 'participants', tok.coordinator, {
        trialId: 'trial-a',
        homeId: 'home-a1',
        enrolledAt: T0,
        consentStatus: 'consented',
        consentScope: ['hydration'],
        legalBasis: 'consent',
      })
    ).id;
    ids.pA2 = (
      await ok('POST', 'participants', tok.coordinator, {
        trialId: 'trial-a',
        homeId: 'home-a2',
        enrolledAt: T0,
        consentStatus: 'pending',
        legalBasis: 'consent',
      })
    ).id;
    ids.pB1 = (
      await ok('POST', 'participants', admin, {
        id: 'P-B1B1B1',
        trialId: 'trial-b',
        homeId: 'home-b1',
        enrolledAt: T0,
        consentStatus: 'consented',
        legalBasis: 'public-task',
      })
    ).id;
    ids.absence = (
      await ok('POST', 'absences', tok.coordinator, {
        participantId: ids.pA1,
        from: T0 + 3 * DAY,
        to: T0 + 5 * DAY,
        reason: 'hospital-stay',
      })
    ).id;
    await ok('POST', 'devices', tok.company, {
      id: 'cup-1',
      kind: 'hydration',
      vendor: 'Acme',
      model: 'SmartCup',
      firmware: '1.0.3',
      serial: 'SC-0001',
    });
    await ok('POST', 'devices', admin, {
      id: 'motion-1',
      kind: 'motion',
      vendor: 'Bolt',
      model: 'PIR-9',
      zigbeeAddress: '0x00158d0001a2b3c4',
      orgId: 'bolt',
    });
    ids.asgCup = (await ok('POST', 'assignments', tok.coordinator, { deviceId: 'cup-1', homeId: 'home-a1', from: T0 })).id;
    await ok('POST', 'assignments', admin, { deviceId: 'motion-1', homeId: 'home-b1', from: T0 });
    await ok('POST', 'gateways', tok.coordinator, { siteId: 'site-a', gateway: 'gw-1', homeId: 'home-a1', orgId: 'acme' });
    await ok('POST', 'gateways', admin, { siteId: 'site-b', gateway: 'gw-2', orgId: 'bolt' });
  });
  afterAll(async () => {
    await w.api?.app.close();
    await close?.();
  });
  return w;
}
