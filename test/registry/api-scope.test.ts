// Registry API: what each role may see and change — a coordinator their organisation's trials
// and sites, a company its own devices and gateways (never participant data), a researcher
// consented participants only — on SQLite and PostgreSQL.

import { describe, it, expect } from 'vitest';
import { DATABASES, T0, DAY } from '../support/registry.ts';
import { useWorld } from '../support/registry-world.ts';

describe.each(DATABASES)('registry API on %s', (kind) => {
  const w = useWorld(kind);
  const { tok, ids, call, ok } = w;

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
      const before = await w.registry.version();
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
      expect(await w.registry.version()).toBe(before);
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
      // An unconsented participant is answered exactly as an unknown pseudonym: the 404 does not confirm it exists.
      const hidden = await call('GET', `participants/${ids.pA2}`, tok.researcher);
      const unknown = await call('GET', 'participants/P-ZZZZZZ', tok.researcher);
      expect([hidden.status, unknown.status]).toEqual([404, 404]);
      expect(hidden.body.message).toBe(unknown.body.message.replace('P-ZZZZZZ', ids.pA2));
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
});
