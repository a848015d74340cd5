// Every registry route, every role boundary, bad input — on SQLite and on PostgreSQL.
// The world: two coordinating organisations (region-a, region-b) each with a site, a trial and
// homes; two companies (acme, bolt) each with a device and a gateway; participants consented and
// not. Tokens: admin, coordinator of region-a, company acme, researcher.

import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { DATABASES, freshRegistry, tokenFor, apiFor, T0, DAY, type Api } from './helpers.ts';
import type { Registry, Role } from '../../registry/index.ts';

describe.each(DATABASES)('registry API on %s', (kind) => {
  let registry: Registry;
  let close: () => Promise<void>;
  let api: Api;
  const tok: Record<'admin' | 'coordinator' | 'coordinatorB' | 'company' | 'companyB' | 'researcher', string> = {} as never;
  const ids = { pA1: '', pA2: '', pB1: '', absence: '', asgCup: '' };
  const call = (...args: Parameters<Api['call']>) => api.call(...args);
  const ok = async (method: string, url: string, token: string, body?: unknown, status = [200, 201]) => {
    const r = await call(method, url, token, body);
    expect(status, `${method} ${url} → ${r.status} ${JSON.stringify(r.body)}`).toContain(r.status);
    return r.body;
  };

  beforeAll(async () => {
    ({ registry, close } = await freshRegistry(kind));
    api = await apiFor(registry);
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
    await api?.app.close();
    await close?.();
  });

  describe('authentication', () => {
    it('no token, a malformed one, an unknown one → 401 with how to get one', async () => {
      for (const t of [
        null,
        'nonsense',
        'tb1.tok-aaaaaaaaaa.' + 'x'.repeat(43),
        tok.admin.slice(0, -1) + (tok.admin.endsWith('A') ? 'B' : 'A'),
      ]) {
        const r = await call('GET', 'sites', t);
        expect(r.status).toBe(401);
        expect(r.body.message).toMatch(/token/);
      }
      expect((await call('GET', 'sites', null)).body.message).toMatch(/testbed token create/);
    });

    it('/me tells who a token acts for; tokens are shown once and stored hashed', async () => {
      expect((await ok('GET', 'me', tok.coordinator)).role).toBe('coordinator');
      const rows = await registry.db.all<{ secret_hash: string }>('SELECT secret_hash FROM api_tokens');
      for (const r of rows) expect(tok.admin).not.toContain(r.secret_hash);
      expect(JSON.stringify(rows)).not.toContain(tok.admin.split('.')[2]);
    });

    it('a revoked token and a disabled user are refused; the user and token routes work', async () => {
      const user = await ok('POST', 'users', tok.admin, { name: 'Temp', role: 'researcher' });
      const t = await ok('POST', `users/${user.id}/tokens`, tok.admin, { label: 'laptop' });
      expect(t.token).toMatch(/^tb1\.tok-[0-9a-z]{10}\.[A-Za-z0-9_-]{43}$/);
      expect((await call('GET', 'me', t.token)).status).toBe(200);
      const listed = await ok('GET', `users/${user.id}/tokens`, tok.admin);
      expect(listed).toHaveLength(1);
      expect(JSON.stringify(listed)).not.toContain(t.token.split('.')[2]);
      expect((await ok('POST', `tokens/${t.id}/revoke`, tok.admin)).revokedAt).toEqual(expect.any(Number));
      expect((await call('GET', 'me', t.token)).status).toBe(401);
      expect((await call('POST', `tokens/${t.id}/revoke`, tok.admin)).status).toBe(409);
      const t2 = await ok('POST', `users/${user.id}/tokens`, tok.admin, {});
      expect((await ok('PATCH', `users/${user.id}`, tok.admin, { disabled: true })).disabledAt).toEqual(expect.any(Number));
      expect((await call('GET', 'me', t2.token)).status).toBe(401);
      expect((await ok('GET', `users/${user.id}`, tok.admin)).name).toBe('Temp');
      expect((await ok('GET', 'users', tok.admin)).length).toBeGreaterThanOrEqual(7);
      expect((await call('POST', 'users', tok.admin, { name: 'C', role: 'coordinator' })).status).toBe(400);
      expect((await call('POST', 'users', tok.admin, { name: 'C', role: 'company', orgId: 'region-a' })).body.message).toMatch(
        /not a company/,
      );
    });
  });

  describe('roles at every route', () => {
    type R = 'admin' | 'coordinator' | 'company' | 'researcher';
    const ALL: R[] = ['admin', 'coordinator', 'company', 'researcher'];
    const STAFF: R[] = ['admin', 'coordinator'];
    const PART: R[] = ['admin', 'coordinator', 'researcher'];
    // [method, url, body for a write, roles allowed]
    const routes = (): [string, string, unknown, R[]][] => [
      ['GET', 'organisations', undefined, ALL],
      ['GET', 'organisations/acme', undefined, ALL],
      ['POST', 'organisations', { id: 'x-org', name: 'X', type: 'other' }, ['admin']],
      ['PATCH', 'organisations/acme', { name: 'Acme' }, ['admin']],
      ['GET', 'sites', undefined, ALL],
      ['GET', 'sites/site-a', undefined, ALL],
      ['POST', 'sites', { id: 'x-site', name: 'X' }, STAFF],
      ['PATCH', 'sites/site-a', { name: 'Living lab A' }, STAFF],
      ['GET', 'trials', undefined, ALL],
      ['GET', 'trials/trial-a', undefined, ALL],
      ['POST', 'trials', { id: 'x-trial', name: 'X', phase: 'pilot', protocolVersion: '1', startAt: T0 }, STAFF],
      ['PATCH', 'trials/trial-a', { name: 'Hydration A' }, STAFF],
      ['GET', 'homes', undefined, PART],
      ['GET', 'homes/home-a1', undefined, PART],
      ['POST', 'homes', { id: 'x-home', siteId: 'site-a' }, STAFF],
      ['PATCH', 'homes/home-a1', { label: 'Flat 1' }, STAFF],
      ['GET', 'participants', undefined, PART],
      ['GET', `participants/${ids.pA1}`, undefined, PART],
      [
        'POST',
        'participants',
        { trialId: 'trial-a', homeId: 'home-a2', enrolledAt: T0, consentStatus: 'pending', legalBasis: 'consent' },
        STAFF,
      ],
      ['PATCH', `participants/${ids.pA1}`, { consentScope: ['hydration'] }, STAFF],
      ['POST', `participants/${ids.pA2}/withdraw`, { pastData: 'exclude' }, STAFF],
      ['GET', 'absences', undefined, PART],
      ['GET', `absences/${ids.absence}`, undefined, PART],
      ['POST', 'absences', { participantId: ids.pA1, from: T0, reason: 'travel' }, STAFF],
      ['PATCH', `absences/${ids.absence}`, { reason: 'hospital-stay' }, STAFF],
      ['GET', 'devices', undefined, ALL],
      ['GET', 'devices/cup-1', undefined, ALL],
      ['GET', 'devices/cup-1/assignments', undefined, ALL],
      ['POST', 'devices', { id: 'x-dev', kind: 'door', vendor: 'X', model: 'X' }, ['admin', 'company']],
      ['PATCH', 'devices/cup-1', { firmware: '1.0.3' }, ['admin', 'company']],
      ['POST', 'devices/cup-1/move', { homeId: 'home-a2', at: T0 + 50 * DAY }, STAFF],
      ['GET', 'assignments', undefined, ALL],
      ['GET', `assignments/${ids.asgCup}`, undefined, ALL],
      ['POST', 'assignments', { deviceId: 'cup-1', homeId: 'home-a1', from: T0 - DAY, to: T0 }, STAFF],
      ['PATCH', `assignments/${ids.asgCup}`, { participantId: null }, STAFF],
      ['GET', 'gateways', undefined, ['admin', 'coordinator', 'company']],
      ['GET', 'gateways/site-a.gw-1', undefined, ['admin', 'coordinator', 'company']],
      ['POST', 'gateways', { siteId: 'site-a', gateway: 'x-gw' }, STAFF],
      ['PATCH', 'gateways/site-a.gw-1', { homeId: 'home-a1' }, STAFF],
      ['POST', 'gateways/site-a.gw-1/revoke', undefined, ['admin', 'coordinator', 'company']],
      ['POST', 'gateways/site-a.gw-1/credentials', undefined, STAFF],
      ['POST', 'gateways/site-a.gw-1/permit-join', { seconds: 60 }, ['admin', 'coordinator', 'company']],
      ['GET', 'users', undefined, ['admin']],
      ['GET', 'users/usr-0000000000', undefined, ['admin']],
      ['POST', 'users', { name: 'X', role: 'researcher' }, ['admin']],
      ['PATCH', 'users/usr-0000000000', { name: 'X' }, ['admin']],
      ['POST', 'users/usr-0000000000/tokens', {}, ['admin']],
      ['GET', 'users/usr-0000000000/tokens', undefined, ['admin']],
      ['POST', 'tokens/tok-0000000000/revoke', undefined, ['admin']],
      ['GET', 'audit', undefined, ['admin']],
    ];

    it("every role outside a route's list gets 403 naming the role, before its body is looked at, and nothing changes", async () => {
      const before = await registry.version();
      let refused = 0;
      for (const [method, url, body, allowed] of routes()) {
        for (const role of ALL.filter((r) => !allowed.includes(r))) {
          const r = await call(method, url, tok[role], body);
          expect(r.status, `${role} ${method} ${url}`).toBe(403);
          expect(r.body.message).toContain(`role '${role}'`);
          // A malformed body changes nothing about it: still 403, not 400.
          if (method !== 'GET') expect((await call(method, url, tok[role], { nonsense: true })).status).toBe(403);
          refused++;
        }
      }
      expect(refused).toBeGreaterThan(60);
      expect(await registry.version()).toBe(before);
    });

    it('every read route answers 200 to each role it lists (within scope)', async () => {
      for (const [method, url, , allowed] of routes()) {
        if (method !== 'GET' || url.includes('usr-0000000000')) continue;
        for (const role of allowed) {
          // A researcher reads consented participants only: pA1 is consented.
          const r = await call(method, url, tok[role]);
          expect(r.status, `${role} ${method} ${url}: ${JSON.stringify(r.body)}`).toBe(200);
        }
      }
    });

    it('every route is in the OpenAPI document with the bearer scheme', async () => {
      const doc = (await call('GET', '/openapi.json')).body;
      expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
      for (const [method, url] of routes()) {
        const path =
          '/api/v1/' +
          url.replace(
            /\/(acme|site-a|trial-a|home-a1|cup-1|site-a\.gw-1|usr-0+|tok-0+|P-[0-9A-Z]{6}|abs-[0-9a-z]+|asg-[0-9a-z]+)(?=\/|$)/g,
            '/{id}',
          );
        expect(doc.paths[path]?.[method.toLowerCase()], `${method} ${path}`).toBeDefined();
        expect(doc.paths[path][method.toLowerCase()].security).toEqual([{ bearer: [] }]);
      }
    });
  });

  describe("coordinator scope: their organisation's trials and sites", () => {
    it('sees their own trial, homes and participants only', async () => {
      expect((await ok('GET', 'trials', tok.coordinator)).map((t: { id: string }) => t.id)).toEqual(['trial-a']);
      expect((await call('GET', 'trials/trial-b', tok.coordinator)).status).toBe(403);
      expect((await ok('GET', 'homes', tok.coordinator)).map((h: { id: string }) => h.id).sort()).toEqual(['home-a1', 'home-a2']);
      expect((await call('GET', 'homes/home-b1', tok.coordinator)).status).toBe(403);
      const ps = (await ok('GET', 'participants', tok.coordinator)).map((p: { id: string }) => p.id);
      expect(ps).toContain(ids.pA1);
      expect(ps).not.toContain(ids.pB1);
      expect((await call('GET', `participants/${ids.pB1}`, tok.coordinator)).status).toBe(403);
      expect((await ok('GET', 'gateways', tok.coordinator)).map((g: { id: string }) => g.id)).toEqual(['site-a.gw-1']);
      expect((await ok('GET', 'assignments', tok.coordinator)).every((a: { homeId: string }) => a.homeId.startsWith('home-a'))).toBe(true);
    });

    it('cannot write outside it', async () => {
      const before = await registry.version();
      const refused = [
        await call('POST', 'homes', tok.coordinator, { id: 'sneaky', siteId: 'site-b' }),
        await call('POST', 'participants', tok.coordinator, {
          trialId: 'trial-b',
          homeId: 'home-b1',
          enrolledAt: T0,
          consentStatus: 'pending',
          legalBasis: 'consent',
        }),
        await call('PATCH', 'trials/trial-b', tok.coordinator, { name: 'mine now' }),
        await call('PATCH', 'trials/trial-a', tok.coordinator, { siteIds: ['site-a', 'site-b'] }),
        await call('POST', 'trials', tok.coordinator, {
          id: 'for-b',
          orgId: 'region-b',
          name: 'X',
          phase: 'pilot',
          protocolVersion: '1',
          startAt: T0,
        }),
        await call('POST', 'sites', tok.coordinator, { id: 'for-b', orgId: 'region-b', name: 'X' }),
        await call('POST', 'assignments', tok.coordinator, { deviceId: 'motion-1', homeId: 'home-b1', from: T0 + 500 * DAY }),
        await call('POST', 'gateways', tok.coordinator, { siteId: 'site-b', gateway: 'sneaky' }),
        await call('POST', 'gateways/site-b.gw-2/revoke', tok.coordinator),
        await call('POST', `participants/${ids.pB1}/withdraw`, tok.coordinator, { pastData: 'exclude' }),
        await call('POST', 'absences', tok.coordinator, { participantId: ids.pB1, from: T0, reason: 'travel' }),
        await call('PATCH', 'sites/site-b', tok.coordinator, { name: 'X' }),
      ];
      for (const r of refused) expect(r.status, JSON.stringify(r.body)).toBe(403);
      expect(await registry.version()).toBe(before);
    });

    it("coordinator B sees their own world and not A's", async () => {
      expect((await ok('GET', 'trials', tok.coordinatorB)).map((t: { id: string }) => t.id)).toEqual(['trial-b']);
      expect((await call('GET', `participants/${ids.pA1}`, tok.coordinatorB)).status).toBe(403);
    });
  });

  describe('company: their own devices and gateways, never participant data', () => {
    it('lists and reads only its own devices and gateways', async () => {
      expect((await ok('GET', 'devices', tok.company)).map((d: { id: string }) => d.id)).toEqual(['cup-1']);
      expect((await call('GET', 'devices/motion-1', tok.company)).status).toBe(403);
      expect((await ok('GET', 'gateways', tok.company)).map((g: { id: string }) => g.id)).toEqual(['site-a.gw-1']);
      expect((await call('GET', 'gateways/site-b.gw-2', tok.company)).status).toBe(403);
      expect((await ok('GET', 'devices', tok.companyB)).map((d: { id: string }) => d.id)).toEqual(['motion-1']);
    });

    it('sees where its device is, but not who lives there', async () => {
      await ok('PATCH', `assignments/${ids.asgCup}`, tok.coordinator, { participantId: ids.pA1 });
      expect((await ok('GET', `assignments/${ids.asgCup}`, tok.admin)).participantId).toBe(ids.pA1);
      const history = await ok('GET', 'devices/cup-1/assignments', tok.company);
      expect(history[0]).toMatchObject({ homeId: 'home-a1', participantId: null });
      expect(JSON.stringify(await ok('GET', 'assignments', tok.company))).not.toContain(ids.pA1);
      expect((await call('GET', 'participants', tok.company)).status).toBe(403);
      expect((await call('GET', `participants/${ids.pA1}`, tok.company)).status).toBe(403);
      expect((await call('GET', 'absences', tok.company)).status).toBe(403);
      expect((await call('GET', 'homes', tok.company)).status).toBe(403);
      await ok('PATCH', `assignments/${ids.asgCup}`, tok.coordinator, { participantId: null });
    });

    it("registers devices for itself only, and cannot touch another company's", async () => {
      const d = await ok('POST', 'devices', tok.company, { id: 'bed-1', kind: 'bed', vendor: 'Acme', model: 'BedPad' });
      expect(d.orgId).toBe('acme');
      expect(
        (await call('POST', 'devices', tok.company, { id: 'bed-2', kind: 'bed', vendor: 'Acme', model: 'BedPad', orgId: 'bolt' })).status,
      ).toBe(403);
      expect((await call('PATCH', 'devices/motion-1', tok.company, { firmware: 'evil' })).status).toBe(403);
      expect((await call('PATCH', 'devices/bed-1', tok.company, { orgId: 'bolt' })).status).toBe(403);
      expect((await ok('PATCH', 'devices/bed-1', tok.company, { firmware: '2.0.0' })).firmware).toBe('2.0.0');
      expect((await call('POST', 'gateways/site-b.gw-2/revoke', tok.company)).status).toBe(403);
    });
  });

  describe('researcher: read-only, pseudonyms, consented participants only', () => {
    it('sees consented participants and their absences only', async () => {
      const ps = (await ok('GET', 'participants', tok.researcher)) as { id: string; consentStatus: string }[];
      expect(ps.map((p) => p.id)).toEqual(expect.arrayContaining([ids.pA1, ids.pB1]));
      expect(ps.map((p) => p.id)).not.toContain(ids.pA2);
      expect(ps.every((p) => p.consentStatus === 'consented')).toBe(true);
      expect((await call('GET', `participants/${ids.pA2}`, tok.researcher)).body.message).toMatch(/not consented/);
      expect(
        (await ok('GET', 'absences', tok.researcher))
          .map((a: { participantId: string }) => a.participantId)
          .every((p: string) => p === ids.pA1 || p === ids.pB1),
      ).toBe(true);
    });
    it('a participant record holds a pseudonym and nothing that names a person', async () => {
      const p = await ok('GET', `participants/${ids.pA1}`, tok.researcher);
      expect(p.id).toMatch(/^P-[0-9A-HJKMNP-TV-Z]{6}$/);
      expect(Object.keys(p).sort()).toEqual([
        'consentScope',
        'consentStatus',
        'createdAt',
        'enrolledAt',
        'homeId',
        'id',
        'legalBasis',
        'pastData',
        'trialId',
        'updatedAt',
        'withdrawnAt',
      ]);
    });
  });

  describe('audit', () => {
    it('records every write and every read of participant data with who and when', async () => {
      const since = Date.now();
      await ok('GET', `participants/${ids.pA1}`, tok.researcher);
      await ok('GET', 'participants?trialId=trial-a', tok.coordinator);
      await ok('PATCH', 'homes/home-a2', tok.coordinator, { label: 'Flat 2' });
      const audit = (await ok('GET', `audit?since=${since}`, tok.admin)) as {
        actor: string;
        role: string;
        action: string;
        resourceType: string;
        resourceId: string | null;
        at: number;
        tokenId: string;
        details: Record<string, unknown>;
      }[];
      const me = async (t: string) => (await ok('GET', 'me', t)) as { id: string; tokenId: string };
      const researcher = await me(tok.researcher);
      const coordinator = await me(tok.coordinator);
      expect(audit).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            actor: researcher.id,
            tokenId: researcher.tokenId,
            role: 'researcher',
            action: 'read',
            resourceType: 'participant',
            resourceId: ids.pA1,
          }),
          expect.objectContaining({
            actor: coordinator.id,
            role: 'coordinator',
            action: 'read',
            resourceType: 'participant',
            resourceId: null,
            details: expect.objectContaining({ ids: expect.arrayContaining([ids.pA1, ids.pA2]) }),
          }),
          expect.objectContaining({
            actor: coordinator.id,
            action: 'update',
            resourceType: 'home',
            resourceId: 'home-a2',
            details: { changed: { label: [null, 'Flat 2'] } },
          }),
        ]),
      );
      expect(audit.every((e) => e.at >= since)).toBe(true);
      // Writes from setup are there too, with their actor.
      const creates = (await ok('GET', 'audit?action=create&resourceType=participant', tok.admin)) as { resourceId: string }[];
      expect(creates.map((c) => c.resourceId)).toEqual(expect.arrayContaining([ids.pA1, ids.pA2, ids.pB1]));
    });

    it('a write that is refused leaves no audit entry and no change; an unchanged PATCH leaves none either', async () => {
      const before = await registry.version();
      expect((await call('PATCH', 'homes/home-a1', tok.coordinator, { label: 'Flat 1' })).status).toBe(200);
      expect((await call('PATCH', 'homes/home-a1', tok.coordinator, { label: { text: 'Flat 1' } })).status).toBe(400);
      expect(await registry.version()).toBe(before);
    });
  });

  describe('bad input: a clear 4xx and nothing changes', () => {
    it('malformed bodies, unknown ids, bad references, overlaps, intervals', async () => {
      const before = await registry.version();
      const countRows = async () =>
        Promise.all(
          ['organisations', 'sites', 'trials', 'homes', 'participants', 'absences', 'devices', 'assignments', 'gateways', 'users'].map(
            async (t) => (await registry.db.get<{ n: number }>(`SELECT count(*) AS n FROM ${t}`))!.n,
          ),
        );
      const rows = await countRows();
      const cases: [string, string, unknown, number, RegExp][] = [
        ['POST', 'sites', { name: 'no id ok but bad facilities', facilities: { kitchen: true } }, 400, /facilities must be array/],
        ['POST', 'sites', { id: 'Bad_Id', name: 'x' }, 400, /id must match pattern/],
        ['POST', 'sites', { id: 'ok', name: 'x', colour: 'red' }, 400, /must NOT have additional properties/],
        [
          'POST',
          'trials',
          { id: 't', orgId: 'region-a', name: 'x', phase: 'beta', protocolVersion: '1', startAt: T0 },
          400,
          /phase must be equal to one of the allowed values/,
        ],
        [
          'POST',
          'trials',
          { id: 't', orgId: 'region-a', name: 'x', phase: 'pilot', protocolVersion: '1', startAt: T0, endAt: T0 - 1 },
          400,
          /end .* must be after the start/,
        ],
        [
          'POST',
          'trials',
          { id: 't', orgId: 'region-a', name: 'x', phase: 'pilot', protocolVersion: '1', startAt: T0, siteIds: ['nowhere'] },
          400,
          /site 'nowhere' does not exist/,
        ],
        ['POST', 'homes', { id: 'h', siteId: 'nowhere' }, 400, /site 'nowhere' does not exist/],
        ['POST', 'homes', { id: 'home-a1', siteId: 'site-a' }, 409, /already exists/],
        [
          'POST',
          'participants',
          { id: 'Anna Svensson', trialId: 'trial-a', homeId: 'home-a1', enrolledAt: T0, consentStatus: 'consented', legalBasis: 'consent' },
          400,
          /not a pseudonym/,
        ],
        [
          'POST',
          'participants',
          { trialId: 'trial-a', homeId: 'home-b1', enrolledAt: T0, consentStatus: 'consented', legalBasis: 'consent' },
          400,
          /not one of trial 'trial-a''s sites/,
        ],
        [
          'POST',
          'participants',
          { trialId: 'trial-a', homeId: 'home-a1', enrolledAt: T0, consentStatus: 'withdrawn', legalBasis: 'consent' },
          400,
          /consentStatus/,
        ],
        [
          'POST',
          'participants',
          { trialId: 'trial-a', homeId: 'home-a1', enrolledAt: 'yesterday', consentStatus: 'consented', legalBasis: 'consent' },
          400,
          /enrolledAt must be integer/,
        ],
        [
          'POST',
          'participants',
          { trialId: 'trial-a', homeId: 'home-a1', enrolledAt: T0, consentStatus: 'consented' },
          400,
          /must have required property 'legalBasis'/,
        ],
        ['POST', 'absences', { participantId: 'P-000000', from: T0, reason: 'travel' }, 400, /participant 'P-000000' does not exist/],
        ['POST', 'absences', { participantId: ids.pA1, from: T0, reason: 'holiday' }, 400, /reason must be equal to one of/],
        [
          'POST',
          'devices',
          { id: 'x', kind: 'teleporter', vendor: 'x', model: 'x', orgId: 'acme' },
          400,
          /kind 'teleporter' is not in the device catalogue/,
        ],
        [
          'POST',
          'devices',
          { id: 'x', kind: 'door', vendor: 'x', model: 'x', orgId: 'nobody' },
          400,
          /organisation 'nobody' does not exist/,
        ],
        [
          'POST',
          'devices',
          { id: 'x', kind: 'door', vendor: 'x', model: 'x', orgId: 'acme', zigbeeAddress: '0x00158d0001a2b3c4' },
          409,
          /already has Zigbee address/,
        ],
        [
          'POST',
          'devices',
          { id: 'x', kind: 'door', vendor: 'x', model: 'x', orgId: 'acme', zigbeeAddress: 'kitchen' },
          400,
          /zigbeeAddress must match pattern/,
        ],
        [
          'POST',
          'assignments',
          { deviceId: 'cup-1', homeId: 'home-a2', from: T0 + DAY },
          409,
          /already assigned to home 'home-a1'.*one home at a time/,
        ],
        ['POST', 'assignments', { deviceId: 'ghost', homeId: 'home-a2', from: T0 }, 400, /device 'ghost' does not exist/],
        [
          'POST',
          'assignments',
          { deviceId: 'cup-1', homeId: 'home-a2', from: T0 - 10 * DAY, to: T0 - 20 * DAY },
          400,
          /must be after the start/,
        ],
        ['POST', 'assignments', { deviceId: 'cup-1', homeId: 'home-a2', from: T0 - 10 * DAY, to: T0 + 1 }, 409, /already assigned/],
        [
          'POST',
          'assignments',
          { deviceId: 'cup-1', homeId: 'home-a2', participantId: 'P-B1B1B1', from: T0 - 10 * DAY, to: T0 },
          400,
          /lives in home 'home-b1'/,
        ],
        ['POST', 'devices/cup-1/move', { homeId: 'home-a2', at: T0 - DAY }, 400, /must be after the current assignment started/],
        ['POST', 'gateways', { siteId: 'site-a', gateway: 'gw-1' }, 409, /already exists/],
        ['POST', 'gateways', { siteId: 'nowhere', gateway: 'gw-9' }, 400, /site 'nowhere' does not exist/],
        ['POST', 'gateways', { siteId: 'site-a', gateway: 'gw-9', homeId: 'home-b1' }, 400, /is at site 'site-b'/],
        ['POST', 'gateways/site-a.gw-1/permit-join', { seconds: 1000 }, 400, /seconds must be <= 254/],
        ['GET', 'sites/nowhere', undefined, 404, /site 'nowhere' does not exist/],
        ['GET', 'participants/P-000000', undefined, 404, /does not exist/],
        ['PATCH', 'devices/ghost', { firmware: '1' }, 404, /device 'ghost' does not exist/],
        ['PATCH', 'trials/trial-a', { endAt: T0 - DAY }, 400, /must be after the start/],
        ['POST', 'participants/P-000000/withdraw', { pastData: 'retain' }, 404, /does not exist/],
        ['POST', 'gateways/nowhere.gw/revoke', undefined, 404, /does not exist/],
      ];
      for (const [method, url, body, status, message] of cases) {
        const r = await call(method, url, tok.admin, body);
        expect(r.status, `${method} ${url} ${JSON.stringify(body)} → ${JSON.stringify(r.body)}`).toBe(status);
        expect(r.body.message, `${method} ${url}`).toMatch(message);
      }
      const broken = await api.app.inject({
        method: 'POST',
        url: '/api/v1/sites',
        headers: { authorization: `Bearer ${tok.admin}`, 'content-type': 'application/json' },
        payload: '{"id": "x", ',
      });
      expect(broken.statusCode).toBe(400);
      expect(await registry.version()).toBe(before);
      expect(await countRows()).toEqual(rows);
    });
  });

  describe('lifecycle', () => {
    it('reads, lists with filters, and updates every resource', async () => {
      expect((await ok('GET', 'organisations?type=company', tok.admin)).map((o: { id: string }) => o.id)).toEqual(['acme', 'bolt']);
      expect((await ok('PATCH', 'organisations/bolt', tok.admin, { name: 'Bolt Care A/S' })).name).toBe('Bolt Care A/S');
      expect((await ok('GET', 'sites?orgId=region-a', tok.admin)).map((s: { id: string }) => s.id)).toEqual(['site-a']);
      expect(
        (await ok('PATCH', 'sites/site-a', tok.coordinator, { facilities: ['apartments', 'showroom', 'kitchen-lab'] })).facilities,
      ).toHaveLength(3);
      expect((await ok('PATCH', 'trials/trial-a', tok.coordinator, { phase: 'pilot', protocolVersion: '1.1' })).phase).toBe('pilot');
      expect((await ok('GET', 'trials/trial-a', tok.admin)).siteIds).toEqual(['site-a']);
      expect((await ok('GET', 'homes?siteId=site-b', tok.admin)).map((h: { id: string }) => h.id)).toEqual(['home-b1']);
      expect(
        (await ok('PATCH', `participants/${ids.pA2}`, tok.coordinator, { consentStatus: 'consented', consentScope: ['motion'] }))
          .consentStatus,
      ).toBe('consented');
      const consentAudit = await ok('GET', `audit?resourceId=${ids.pA2}&action=consent-change`, tok.admin);
      expect(consentAudit[0].details.changed.consentStatus).toEqual(['pending', 'consented']);
      expect((await ok('GET', `absences?participantId=${ids.pA1}`, tok.coordinator))[0].reason).toBe('hospital-stay');
      expect((await ok('PATCH', `absences/${ids.absence}`, tok.coordinator, { to: T0 + 6 * DAY })).to).toBe(T0 + 6 * DAY);
      expect((await ok('GET', 'devices?kind=motion', tok.admin)).map((d: { id: string }) => d.id)).toEqual(['motion-1']);
      expect((await ok('PATCH', 'gateways/site-a.gw-1', tok.coordinator, { homeId: 'home-a2' })).homeId).toBe('home-a2');
      expect((await ok('GET', 'gateways?siteId=site-b', tok.admin)).map((g: { id: string }) => g.id)).toEqual(['site-b.gw-2']);
      expect((await ok('GET', 'gateways/site-a.gw-1', tok.company)).orgId).toBe('acme');
      expect(await ok('GET', 'sites?limit=1&offset=1', tok.admin)).toHaveLength(1);
    });

    it('moves a device between homes and keeps its history', async () => {
      const moved = await ok('POST', 'devices/motion-1/move', tok.admin, { homeId: 'home-b1', at: T0 + 10 * DAY });
      expect(moved).toMatchObject({ deviceId: 'motion-1', homeId: 'home-b1', from: T0 + 10 * DAY, to: null });
      await ok('POST', 'homes', tok.admin, { id: 'home-b2', siteId: 'site-b' });
      await ok('POST', 'devices/motion-1/move', tok.coordinatorB, { homeId: 'home-b2', at: T0 + 20 * DAY });
      const history = (await ok('GET', 'devices/motion-1/assignments', tok.admin)) as { homeId: string; from: number; to: number | null }[];
      expect(history.map((h) => [h.homeId, h.from, h.to])).toEqual([
        ['home-b1', T0, T0 + 10 * DAY],
        ['home-b1', T0 + 10 * DAY, T0 + 20 * DAY],
        ['home-b2', T0 + 20 * DAY, null],
      ]);
      // Ending the open one, then reopening across the later history, is refused.
      const last = (await ok('GET', 'assignments?deviceId=motion-1&homeId=home-b2', tok.admin))[0];
      await ok('PATCH', `assignments/${last.id}`, tok.admin, { to: T0 + 30 * DAY });
      const first = (await ok('GET', 'assignments?deviceId=motion-1', tok.admin))[0];
      expect((await call('PATCH', `assignments/${first.id}`, tok.admin, { to: null })).status).toBe(409);
    });

    it('withdraws a participant once; consent cannot change afterwards', async () => {
      const p = await ok('POST', 'participants', tok.coordinator, {
        trialId: 'trial-a',
        homeId: 'home-a2',
        enrolledAt: T0,
        consentStatus: 'consented',
        legalBasis: 'consent',
      });
      expect((await call('POST', `participants/${p.id}/withdraw`, tok.coordinator, { at: T0 - DAY, pastData: 'exclude' })).status).toBe(
        400,
      );
      const w = await ok('POST', `participants/${p.id}/withdraw`, tok.coordinator, { at: T0 + 7 * DAY, pastData: 'exclude' });
      expect(w).toMatchObject({ consentStatus: 'withdrawn', withdrawnAt: T0 + 7 * DAY, pastData: 'exclude' });
      expect((await call('POST', `participants/${p.id}/withdraw`, tok.coordinator, { pastData: 'retain' })).status).toBe(409);
      expect((await call('PATCH', `participants/${p.id}`, tok.coordinator, { consentStatus: 'consented' })).status).toBe(409);
      expect((await call('GET', `participants/${p.id}`, tok.researcher)).status).toBe(403);
      const audit = await ok('GET', `audit?resourceId=${p.id}&action=withdraw`, tok.admin);
      expect(audit[0].details).toMatchObject({ at: T0 + 7 * DAY, pastData: 'exclude', previousConsent: 'consented' });
    });

    it('gateway credentials are shown once and stored hashed; rotation and revocation', async () => {
      const g = await ok('POST', 'gateways', tok.admin, { siteId: 'site-b', gateway: 'gw-3' });
      expect(g.credentials).toEqual({ username: 'site-b.gw-3', password: expect.stringMatching(/^[A-Za-z0-9_-]{32}$/) });
      expect(JSON.stringify(await ok('GET', 'gateways/site-b.gw-3', tok.admin))).not.toContain(g.credentials.password);
      const stored = await registry.db.get<{ password_hash: string }>('SELECT password_hash FROM gateways WHERE id = ?', ['site-b.gw-3']);
      expect(stored!.password_hash).toMatch(/^scrypt\$/);
      const rotated = await ok('POST', 'gateways/site-b.gw-3/credentials', tok.admin);
      expect(rotated.credentials.password).not.toBe(g.credentials.password);
      const revoked = await ok('POST', 'gateways/site-b.gw-3/revoke', tok.companyB === tok.admin ? tok.admin : tok.admin);
      expect(revoked.gateway.revokedAt).toEqual(expect.any(Number));
      expect(revoked.disconnected).toBe(0); // no broker in this process
      expect((await call('POST', 'gateways/site-b.gw-3/permit-join', tok.admin, { seconds: 10 })).status).toBe(409);
    });

    it('permit join without a broker in the process answers 503', async () => {
      const r = await call('POST', 'gateways/site-b.gw-2/permit-join', tok.companyB, { seconds: 30 });
      expect(r.status).toBe(503);
      expect(r.body.message).toMatch(/broker/);
    });
  });
});

// Role names used above must be the registry's.
const _roles: Role[] = ['admin', 'coordinator', 'company', 'researcher'];
void _roles;
