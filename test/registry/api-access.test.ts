// Registry API: tokens and users (401 and the token lifecycle), the role list at every route (403
// before the body is looked at), and every route in the OpenAPI document — on SQLite and PostgreSQL.

import { describe, it, expect } from 'vitest';
import type { Role } from '../../registry/index.ts';
import { DATABASES, T0, DAY } from '../support/registry.ts';
import { useWorld } from '../support/registry-world.ts';

describe.each(DATABASES)('registry API on %s', (kind) => {
  const w = useWorld(kind);
  const { tok, ids, call, ok } = w;

  describe('authentication', () => {
    it('no token, a malformed one, an unknown one → 401 with how to get one', async () => {
      for (const t of [
        null,
        'nonsense',
        `tb1.tok-aaaaaaaaaa.${'x'.repeat(43)}`,
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
      const rows = await w.registry.db.all<{ secret_hash: string }>('SELECT secret_hash FROM api_tokens');
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
      const before = await w.registry.version();
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
      expect(await w.registry.version()).toBe(before);
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
});

// Role names used above must be the registry's.
const _roles: Role[] = ['admin', 'coordinator', 'company', 'researcher'];
void _roles;
