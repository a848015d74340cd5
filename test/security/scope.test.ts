// Issue 11, class 5 (docs/security.md): every list filters by the caller's scope first and pages
// after. The attack: another organisation's site produces many alerts, events or dead letters,
// and a coordinator's page — cut by LIMIT before the scope filter — comes back short or empty,
// hiding their own site's falls. And the other way round: nothing outside the scope is on it.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { monitorWorld, T0, type World } from '../support/monitor-world.ts';

/** Alerts at the other site: more than one replay page (1000 events) and than any list limit asked here. */
const FLOOD = 1100;
const MIN = 60_000;

let w: World;
const ownAlerts: string[] = [];

beforeAll(async () => {
  w = await monitorWorld('sqlite');
  // Site B floods first and newest; site A's three alerts come last in event order but opened
  // earliest, so they sit at the end of both the newest-first list and the event log.
  for (let i = 0; i < FLOOD; i++) {
    w.now.value = T0 + 60 * MIN + i;
    w.monitor.engine.raise({
      rule: 'device-silent',
      site: 'site-b',
      gateway: 'gw-1',
      device: `dev-${i}`,
      message: 'flood',
      measuredAt: T0,
    });
  }
  for (let i = 0; i < 3; i++) {
    w.now.value = T0 + i;
    const a = w.monitor.engine.raise({
      rule: 'fall',
      site: 'site-a',
      gateway: 'gw-1',
      device: `fall-${i}`,
      participant: w.participantA,
      message: 'fall detected',
      measuredAt: T0 + i,
    });
    ownAlerts.push(a!.id);
  }
  w.now.value = T0 + 2 * 60 * MIN;
});
afterAll(async () => {
  await w?.close();
});

describe('scope before paging: alerts', () => {
  it("gives a coordinator every alert of their own site when another site's alerts would fill the limit", async () => {
    const res = await w.call('coordA', 'GET', 'alerts?limit=50');
    expect(res.status).toBe(200);
    expect(res.body.map((a: { id: string }) => a.id).sort()).toEqual([...ownAlerts].sort());
    // The other coordinator's page is full, and only theirs.
    const b = await w.call('coordB', 'GET', 'alerts?limit=50');
    expect(b.body).toHaveLength(50);
    expect(new Set(b.body.map((a: { site: string }) => a.site))).toEqual(new Set(['site-b']));
    // Filters combine with the scope: site B's participant is not reachable through site A's scope.
    expect((await w.call('coordA', 'GET', `alerts?participant=${w.participantB}`)).body).toEqual([]);
    expect((await w.call('coordA', 'GET', `alerts?participant=${w.participantA}&limit=1`)).body).toHaveLength(1);
  });

  it("replays a coordinator's own events after Last-Event-ID when more than a page of another site's came first", async () => {
    const address = await w.app.listen({ host: '127.0.0.1', port: 0 });
    const abort = new AbortController();
    const res = await fetch(`${address}/api/v1/alerts/stream`, {
      headers: { authorization: `Bearer ${w.tokens.coordA}`, 'last-event-id': '0' },
      signal: abort.signal,
    });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    let text = '';
    const deadline = Date.now() + 5000;
    try {
      while (Date.now() < deadline && (text.match(/^event: opened$/gm) ?? []).length < ownAlerts.length) {
        const chunk = await Promise.race([reader.read(), new Promise<null>((r) => setTimeout(() => r(null), 500))]);
        if (chunk?.value) text += new TextDecoder().decode(chunk.value);
        if (chunk?.done) break;
      }
    } finally {
      abort.abort();
    }
    const replayed = [...text.matchAll(/^data: (.*)$/gm)].map((m) => (JSON.parse(m[1]!) as { alert: { id: string; site: string } }).alert);
    expect(replayed.map((a) => a.id).sort()).toEqual([...ownAlerts].sort());
    expect(replayed.every((a) => a.site === 'site-a')).toBe(true);
  });
});

describe('scope before paging: dead letters', () => {
  beforeAll(() => {
    const dl = (site: string | null, gateway: string | null, cls: 'invalid_json' | 'invalid_reading') => ({
      site,
      gateway,
      batch: null,
      index: null,
      class: cls,
      reason: `${cls} at ${site}/${gateway}`,
      raw: `{"secret":"${site}/${gateway}"}`,
    });
    w.deadLetters.add(Array.from({ length: 30 }, () => dl('site-b', 'gw-1', 'invalid_json')));
    w.deadLetters.add([
      dl('site-a', 'gw-1', 'invalid_reading'),
      dl('site-a', 'gw-1', 'invalid_json'),
      dl('site-a', 'gw-2', 'invalid_json'),
    ]);
    w.deadLetters.add(Array.from({ length: 30 }, () => dl('site-b', 'gw-1', 'invalid_json')));
    w.deadLetters.add(dl(null, null, 'invalid_json'));
  });

  it("shows a coordinator their own sites' dead letters only, paged after the scope, with counts of theirs", async () => {
    const res = await w.call('coordA', 'GET', 'dead-letters?limit=2');
    expect(res.status).toBe(200);
    expect(res.body.items).toHaveLength(2);
    expect(res.body.items.every((d: { site: string }) => d.site === 'site-a')).toBe(true);
    expect(res.body.total).toBe(3);
    expect(res.body.byReason).toEqual({ invalid_json: 2, invalid_reading: 1 });
    expect(res.text).not.toContain('site-b');
    // Asking for another organisation's site is refused, not answered empty-handed with its counts.
    expect((await w.call('coordA', 'GET', 'dead-letters?site=site-b')).status).toBe(403);
  });

  it("shows a company its own gateways' dead letters only; researchers none; admins all", async () => {
    const company = await w.call('company', 'GET', 'dead-letters');
    expect(company.status).toBe(200);
    expect(company.body.items.map((d: { site: string; gateway: string }) => `${d.site}/${d.gateway}`)).toEqual([
      'site-a/gw-1',
      'site-a/gw-1',
    ]);
    expect(company.body.total).toBe(2);
    expect((await w.call('company', 'GET', 'dead-letters?gateway=gw-2')).body.items).toEqual([]);
    expect((await w.call('researcher', 'GET', 'dead-letters')).status).toBe(403);
    const admin = await w.call('admin', 'GET', 'dead-letters?limit=10000');
    expect(admin.body.total).toBe(64);
    expect(admin.body.items).toHaveLength(64);
  });
});

describe('scope: devices and the audit log', () => {
  it("lists a coordinator's own site's devices, and a company's devices without participant ids", async () => {
    const up = (site: string) =>
      JSON.stringify({
        gw: 'gw-1',
        batch: 1,
        sent: w.now.value,
        readings: [{ dev: `cup-${site}`, kind: 'hydration', seq: 1, ts: w.now.value - MIN, v: { intake_ml: 100 }, q: { battery: 80 } }],
      });
    for (const site of ['site-a', 'site-b']) w.monitor.observe(`lab/v1/${site}/gw-1/up`, up(site), w.now.value);
    const coord = await w.call('coordA', 'GET', 'monitor/devices');
    expect(coord.body.devices.map((d: { device: string }) => d.device)).toEqual(['cup-site-a']);
    expect(coord.body.devices[0].participant).toBe(w.participantA);
    const company = await w.call('company', 'GET', 'monitor/devices');
    expect(company.body.devices.map((d: { device: string }) => d.device)).toEqual(['cup-site-a', 'cup-site-b']);
    expect(company.body.devices.every((d: { participant: unknown }) => d.participant === null)).toBe(true);
  });

  it('keeps the audit log to admins', async () => {
    for (const who of ['coordA', 'company', 'researcher'] as const) expect((await w.call(who, 'GET', 'audit')).status).toBe(403);
    expect((await w.call('admin', 'GET', 'audit?limit=5')).body).toHaveLength(5);
  });
});
