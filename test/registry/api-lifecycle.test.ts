// Registry API: reading, filtering and updating every resource; moving devices, withdrawing
// participants, gateway credentials and permit join — on SQLite and PostgreSQL.

import { describe, it, expect } from 'vitest';
import { DATABASES, T0, DAY } from '../support/registry.ts';
import { useWorld } from '../support/registry-world.ts';

describe.each(DATABASES)('registry API on %s', (kind) => {
  const w = useWorld(kind);
  const { tok, ids, call, ok } = w;

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
      // A researcher cannot tell a withdrawn participant from one that never existed (404, same message).
      expect((await call('GET', `participants/${p.id}`, tok.researcher)).status).toBe(404);
      const audit = await ok('GET', `audit?resourceId=${p.id}&action=withdraw`, tok.admin);
      expect(audit[0].details).toMatchObject({ at: T0 + 7 * DAY, pastData: 'exclude', previousConsent: 'consented' });
      // Nothing new is assigned to them after the withdrawal; history from before it may still be recorded.
      await ok('POST', 'devices', tok.admin, { id: 'cup-withdrawn', kind: 'hydration', vendor: 'v', model: 'm', orgId: 'acme' });
      const after = await call('POST', 'assignments', tok.coordinator, {
        deviceId: 'cup-withdrawn',
        homeId: 'home-a2',
        participantId: p.id,
        from: T0 + 8 * DAY,
      });
      expect(after.status).toBe(409);
      expect(after.body.message).toMatch(/withdrew/);
      const before = await ok('POST', 'assignments', tok.coordinator, {
        deviceId: 'cup-withdrawn',
        homeId: 'home-a2',
        participantId: p.id,
        from: T0 + DAY,
        to: T0 + 3 * DAY,
      });
      expect((await call('PATCH', `assignments/${before.id}`, tok.coordinator, { from: T0 + 7 * DAY })).status).toBe(409);
      expect((await ok('PATCH', `assignments/${before.id}`, tok.coordinator, { to: T0 + 4 * DAY })).to).toBe(T0 + 4 * DAY);
      const move = { homeId: 'home-a2', at: T0 + 9 * DAY, participantId: p.id };
      expect((await call('POST', 'devices/cup-withdrawn/move', tok.coordinator, move)).status).toBe(409);
    });

    it('gateway credentials are shown once and stored hashed; rotation and revocation', async () => {
      const g = await ok('POST', 'gateways', tok.admin, { siteId: 'site-b', gateway: 'gw-3' });
      expect(g.credentials).toEqual({ username: 'site-b.gw-3', password: expect.stringMatching(/^[A-Za-z0-9_-]{32}$/) });
      expect(JSON.stringify(await ok('GET', 'gateways/site-b.gw-3', tok.admin))).not.toContain(g.credentials.password);
      const stored = await w.registry.db.get<{ password_hash: string }>('SELECT password_hash FROM gateways WHERE id = ?', ['site-b.gw-3']);
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
