// Registry API: the audit log records every write and every read of participant data; bad input
// gets a clear 4xx and changes nothing (no row, no audit entry) — on SQLite and PostgreSQL.

import { describe, it, expect } from 'vitest';
import { DATABASES, T0, DAY } from '../support/registry.ts';
import { useWorld } from '../support/registry-world.ts';

describe.each(DATABASES)('registry API on %s', (kind) => {
  const w = useWorld(kind);
  const { tok, ids, call, ok } = w;

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
      const before = await w.registry.version();
      expect((await call('PATCH', 'homes/home-a1', tok.coordinator, { label: 'Flat 1' })).status).toBe(200);
      expect((await call('PATCH', 'homes/home-a1', tok.coordinator, { label: { text: 'Flat 1' } })).status).toBe(400);
      expect(await w.registry.version()).toBe(before);
    });
  });

  describe('bad input: a clear 4xx and nothing changes', () => {
    it('malformed bodies, unknown ids, bad references, overlaps, intervals', async () => {
      const before = await w.registry.version();
      const countRows = async () =>
        Promise.all(
          ['organisations', 'sites', 'trials', 'homes', 'participants', 'absences', 'devices', 'assignments', 'gateways', 'users'].map(
            async (t) => (await w.registry.db.get<{ n: number }>(`SELECT count(*) AS n FROM ${t}`))!.n,
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
      const broken = await w.api.app.inject({
        method: 'POST',
        url: '/api/v1/sites',
        headers: { authorization: `Bearer ${tok.admin}`, 'content-type': 'application/json' },
        payload: '{"id": "x", ',
      });
      expect(broken.statusCode).toBe(400);
      expect(await w.registry.version()).toBe(before);
      expect(await countRows()).toEqual(rows);
    });
  });
});
