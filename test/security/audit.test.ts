// Issue 11, class 8 (docs/security.md): every read of participant-level data outside the registry
// (monitoring, dead letters) and every change of monitoring configuration (thresholds, periods,
// maintenance, webhooks, alert ack/resolve/label) is in the registry's audit log, with actor,
// token, action, resource and what changed — on SQLite and on PostgreSQL. And when the log cannot
// be written, the data is not served.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildHttpApp } from '../../http/index.ts';
import { cliActor } from '../../registry/index.ts';
import { DATABASES } from '../support/registry.ts';
import { monitorWorld, T0, type World } from '../support/monitor-world.ts';

const SECRET = 'hmac-key-that-must-never-be-logged';

for (const kind of DATABASES) {
  describe(`audit of monitoring and dead letters on ${kind}`, () => {
    let w: World;
    let alertId: string;
    let seen = 0;

    /** The audit entries appended since the last call, oldest first. */
    const fresh = async () => {
      const all = await w.registry.listAudit(cliActor(), { limit: 100_000 });
      const out = all.filter((e) => e.id > seen);
      seen = Math.max(seen, ...all.map((e) => e.id));
      return out;
    };

    beforeAll(async () => {
      w = await monitorWorld(kind);
      w.now.value = T0 + 3_600_000;
      alertId = w.monitor.engine.raise({
        rule: 'fall',
        site: 'site-a',
        gateway: 'gw-1',
        device: 'fall-1',
        participant: w.participantA,
        message: 'fall detected',
        measuredAt: T0,
      })!.id;
      const reading = { dev: 'cup-site-a', kind: 'hydration', seq: 1, ts: T0, v: { intake_ml: 100 }, q: { battery: 80 } };
      w.monitor.observe('lab/v1/site-a/gw-1/up', JSON.stringify({ gw: 'gw-1', batch: 1, sent: T0, readings: [reading] }), T0);
      w.deadLetters.add({ site: 'site-a', gateway: 'gw-1', batch: 1, index: 0, class: 'invalid_reading', reason: 'r', raw: '{}' });
      await fresh();
    });
    afterAll(async () => {
      await w?.close();
    });

    it('records each read of participant-level data with who read it, with which token, and whose data it was', async () => {
      const reads: [string, string, string][] = [
        ['alerts?status=active', 'alert', 'coordA'],
        [`alerts/${alertId}`, 'alert', 'coordA'],
        ['monitor/devices', 'device-health', 'coordA'],
        [`monitor/completeness?from=${T0 - 86_400_000}&to=${T0 + 86_400_000}`, 'completeness', 'researcher'],
        ['dead-letters', 'dead-letters', 'company'],
      ];
      for (const [url, resource, who] of reads) {
        const res = await w.call(who as 'coordA', 'GET', url);
        expect(res.status, url).toBe(200);
        const entries = await fresh();
        expect(entries, url).toHaveLength(1);
        const e = entries[0]!;
        expect(e).toMatchObject({ actor: w.userIds[who as 'coordA'], action: 'read', resourceType: resource });
        expect(e.tokenId, url).toMatch(/\S/);
        expect(e.role).toBe(who === 'coordA' ? 'coordinator' : who);
        expect(String(e.details.route)).toContain('GET /api/v1/');
      }
      // The participants the reply carried are named (here: site A's one).
      const list = await w.call('coordA', 'GET', 'alerts');
      expect(list.body.map((a: { participant: string }) => a.participant)).toEqual([w.participantA]);
      expect((await fresh())[0]!.details).toMatchObject({ participants: [w.participantA] });
    });

    it('records who opened the live alert stream', async () => {
      const address = await w.app.listen({ host: '127.0.0.1', port: 0 });
      const abort = new AbortController();
      const res = await fetch(`${address}/api/v1/alerts/stream?site=site-a`, {
        headers: { authorization: `Bearer ${w.tokens.coordA}` },
        signal: abort.signal,
      });
      expect(res.status).toBe(200);
      abort.abort();
      const [e] = await fresh();
      expect(e).toMatchObject({
        actor: w.userIds.coordA,
        action: 'read',
        resourceType: 'alert-stream',
        details: { query: { site: 'site-a' } },
      });
    });

    it('records every change of monitoring configuration with what changed, and no secret', async () => {
      const changes: [string, string, unknown, string, string][] = [
        ['PUT', 'monitor/thresholds/site:site-a', { noDrinkHours: 3 }, 'update', 'thresholds'],
        ['PUT', 'monitor/thresholds/site:site-a', { noDrinkHours: 5 }, 'update', 'thresholds'],
        [
          'PUT',
          'monitor/periods/trial-site-a',
          { baseline: { from: T0 - 20 * 86_400_000, to: T0 - 10 * 86_400_000 }, intervention: { from: T0 - 10 * 86_400_000, to: T0 } },
          'update',
          'trial-periods',
        ],
        [
          'POST',
          'monitor/maintenance',
          { site: 'site-a', gateway: 'gw-1', from: T0, to: T0 + 3_600_000, reason: 'battery swap' },
          'create',
          'maintenance',
        ],
        ['POST', `alerts/${'ALERT'}/ack`, undefined, 'acknowledge', 'alert'],
        ['POST', `alerts/${'ALERT'}/label`, { label: 'false', note: 'dropped a towel' }, 'label', 'alert'],
        ['POST', `alerts/${'ALERT'}/resolve`, { note: 'checked by phone' }, 'resolve', 'alert'],
      ];
      for (const [method, path, body, action, resource] of changes) {
        const url = path.replace('ALERT', alertId);
        const res = await w.call('coordA', method, url, body);
        expect(res.status, url).toBeLessThan(300);
        const entries = await fresh();
        expect(entries, url).toHaveLength(1);
        expect(entries[0], url).toMatchObject({ actor: w.userIds.coordA, role: 'coordinator', action, resourceType: resource });
        if (body) expect(entries[0]!.details.body, url).toEqual(body);
      }
      // "What changed": the second threshold change names the value it replaced.
      const thresholds = await w.registry.listAudit(cliActor(), { resourceType: 'thresholds', limit: 10 });
      expect(thresholds.map((e) => e.details.before)).toEqual([null, { noDrinkHours: 3 }]);
      expect(thresholds[0]!.resourceId).toBe('site:site-a');

      const windows = (await w.call('coordA', 'GET', 'monitor/maintenance')).body as { id: number }[];
      expect((await w.call('coordA', 'DELETE', `monitor/maintenance/${windows[0]!.id}`)).status).toBe(204);
      expect((await fresh())[0]).toMatchObject({
        action: 'delete',
        resourceType: 'maintenance',
        details: { removed: { reason: 'battery swap' } },
      });

      const hook = await w.call('admin', 'POST', 'alerts/webhooks', { url: 'http://127.0.0.1:9/hook', secret: SECRET, sites: ['site-a'] });
      expect(hook.status).toBe(201);
      expect(await fresh()).toMatchObject([{ action: 'create', resourceType: 'webhook', details: { body: { secret: '[redacted]' } } }]);
      expect((await w.call('admin', 'DELETE', `alerts/webhooks/${hook.body.id}`)).status).toBe(204);
      expect(await fresh()).toMatchObject([
        { action: 'delete', resourceType: 'webhook', details: { removed: { url: 'http://127.0.0.1:9/hook' } } },
      ]);
      const everything = JSON.stringify(await w.registry.listAudit(cliActor(), { limit: 100_000 }));
      expect(everything).not.toContain(SECRET);
    });

    it('records nothing for a refused request (it read and changed nothing)', async () => {
      expect((await w.call('coordA', 'PUT', 'monitor/thresholds/site:site-b', { noDrinkHours: 1 })).status).toBe(403);
      expect((await w.call('researcher', 'GET', 'dead-letters')).status).toBe(403);
      expect((await w.call('coordA', 'GET', 'alerts/alr-doesnotexist')).status).toBe(404);
      expect(await fresh()).toEqual([]);
    });
  });
}

describe('audit fails closed', () => {
  let w: World;
  beforeAll(async () => {
    w = await monitorWorld('sqlite');
  });
  afterAll(async () => {
    await w?.close();
  });

  it('answers 503, without the data or the upstream error, when the audit log cannot be written', async () => {
    w.monitor.engine.raise({ rule: 'fall', site: 'site-a', participant: w.participantA, message: 'fall', measuredAt: T0 });
    const app = await buildHttpApp({
      health: () => ({ status: 'ok', uptimeS: 0, version: 'test', roles: {} }),
      authenticate: (token) => w.registry.authenticate(token),
      audit: async () => {
        throw new Error('SQLITE_READONLY: attempt to write a readonly database');
      },
      plugins: [w.monitor.plugin],
    });
    try {
      for (const url of ['/api/v1/alerts', '/api/v1/monitor/devices']) {
        const res = await app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${w.tokens.admin}` } });
        expect(res.statusCode, url).toBe(503);
        expect(res.json(), url).toMatchObject({ statusCode: 503, code: 'unavailable', error: 'Service Unavailable' });
        expect(res.body, url).not.toMatch(/SQLITE|readonly|P-AAAAAA/);
      }
      // Without an audit sink at all (a process without the registry) the routes are not served either.
      const bare = await buildHttpApp({
        health: () => ({ status: 'ok', uptimeS: 0, version: 'test', roles: {} }),
        authenticate: (token) => w.registry.authenticate(token),
        plugins: [w.monitor.plugin],
      });
      const res = await bare.inject({ method: 'GET', url: '/api/v1/alerts', headers: { authorization: `Bearer ${w.tokens.admin}` } });
      expect(res.statusCode).toBe(503);
      await bare.close();
    } finally {
      await app.close();
    }
  });
});
