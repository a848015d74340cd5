// Red team finding 3 (docs/security.md, "Who sees what"): a company's site comparison was built
// from every participant — withdrawn (pastData: exclude) and pending ones too — at every site, with
// care-alert rates over a single person. A company sees consented, not withdrawn participants
// only, at the sites where it operates devices or gateways, and no cell over fewer than 5 of them.
// Real registry (SQLite), monitor and HTTP app (test/support/monitor-world.ts).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliActor } from '../../registry/index.ts';
import { monitorWorld, T0, type World } from '../support/monitor-world.ts';

const DAY = 86_400_000;
let w: World;
/** Site B's participants: the world's consented one plus four more consented, and one pending. */
const consentedB: string[] = [];
let pendingB = '';

beforeAll(async () => {
  w = await monitorWorld('sqlite');
  const a = cliActor();
  const enrol = async (site: string, trial: string, consentStatus: 'consented' | 'pending', home = `home-${site}`) =>
    (
      await w.registry.createParticipant(a, {
        trialId: trial,
        homeId: home,
        enrolledAt: T0 - 30 * DAY,
        consentStatus,
        legalBasis: 'consent',
      })
    ).id;
  // Site A (where the company runs gw-1 and a cup): one consented (the world's), one withdrawn with pastData exclude, one pending.
  const withdrawn = await enrol('site-a', 'trial-site-a', 'consented');
  await w.registry.withdrawParticipant(a, withdrawn, { at: T0 - 10 * DAY, pastData: 'exclude' });
  await enrol('site-a', 'trial-site-a', 'pending');
  // Site B (the company's cup is in its home): five consented, one pending.
  consentedB.push(w.participantB);
  for (let i = 0; i < 4; i++) consentedB.push(await enrol('site-b', 'trial-site-b', 'consented'));
  pendingB = await enrol('site-b', 'trial-site-b', 'pending');
  // Site C: the municipality's own, nothing of the company's there.
  await w.registry.createSite(a, { id: 'site-c', orgId: 'muni-b', name: 'site-c' });
  await w.registry.createTrial(a, {
    id: 'trial-site-c',
    orgId: 'muni-b',
    name: 'Trial site-c',
    phase: 'pilot',
    protocolVersion: '1',
    startAt: T0 - 30 * DAY,
    siteIds: ['site-c'],
  });
  await w.registry.createHome(a, { id: 'home-site-c', siteId: 'site-c' });
  for (let i = 0; i < 6; i++) await enrol('site-c', 'trial-site-c', 'consented');
  await w.monitor.view.refresh();
  // Falls a day ago: one of site A's consented participant, one of site B's consented and one of its pending participant.
  w.now.value = T0 - DAY;
  const fall = (site: string, participant: string, i: number) =>
    w.monitor.engine.raise({
      rule: 'fall',
      site,
      gateway: 'gw-1',
      device: `fall-${i}`,
      participant,
      message: 'fall',
      measuredAt: T0 - DAY,
    });
  fall('site-a', w.participantA, 1);
  fall('site-b', consentedB[0]!, 2);
  fall('site-b', pendingB, 3);
  w.now.value = T0;
});
afterAll(async () => {
  await w?.close();
});

interface Cell {
  estimate: number | null;
  n: number;
  suppressed?: string;
}
type Site = Record<string, Cell> & { site: string; participants: number | null; participantWeeks: number | null };

const compare = async (who: 'company' | 'researcher' | 'admin', sites?: string) => {
  const r = await w.call(who, 'GET', `monitor/compare${sites ? `?sites=${sites}` : ''}`);
  return { status: r.status, body: r.body as { sites: Site[]; methods: Record<string, string> }, message: r.body?.message as string };
};

describe('site comparison for a company', () => {
  it('counts consented, not withdrawn participants only, as a researcher does', async () => {
    const company = await compare('company', 'site-b');
    const researcher = await compare('researcher', 'site-b');
    expect(company.status).toBe(200);
    const b = company.body.sites[0]!;
    expect(b.participants).toBe(5);
    expect(researcher.body.sites[0]!.participants).toBe(5);
    // The pending participant's fall is not in the company's care-alert rate.
    expect(b.careAlertsPerParticipantWeek!.n).toBe(1);
    expect(b.careAlertsPerParticipantWeek!.estimate).not.toBeNull();
    expect(b.completeness!.suppressed).toBeUndefined();
    // The admin still sees every participant and alert.
    const admin = (await compare('admin', 'site-b')).body.sites[0]!;
    expect(admin.participants).toBe(6);
    expect(admin.careAlertsPerParticipantWeek!.n).toBe(2);
  });

  it('suppresses every cell of a site with fewer than 5 participants (the withdrawn and the pending not counted)', async () => {
    const r = await compare('company', 'site-a');
    expect(r.status).toBe(200);
    const a = r.body.sites[0]!;
    expect(a.participants).toBeNull();
    expect(a.participantWeeks).toBeNull();
    for (const k of ['completeness', 'deviceUptime', 'careAlertsPerParticipantWeek', 'falseAlarmRate', 'dailyFluidIntakeMl'])
      expect(a[k], k).toMatchObject({ estimate: null, lower: null, upper: null, n: 0, suppressed: 'fewer than 5 participants' });
    expect(r.body.methods.suppression).toMatch(/fewer than 5 participants/);
    // The coordinator-free view of an admin is unchanged: three participants had days in the period.
    expect((await compare('admin', 'site-a')).body.sites[0]!.participants).toBe(3);
  });

  it('shows only the sites where the company operates devices or gateways', async () => {
    const all = await compare('company');
    expect(all.body.sites.map((s) => s.site).sort()).toEqual(['site-a', 'site-b']);
    const refused = await compare('company', 'site-b,site-c');
    expect(refused.status).toBe(403);
    expect(refused.message).toBe("site 'site-c' has none of your organisation's devices or gateways");
    expect((await compare('researcher')).body.sites.map((s) => s.site)).toContain('site-c');
  });

  it('documents the suppression in the OpenAPI response', async () => {
    const doc = (await w.call(null, 'GET', '/openapi.json')).body;
    const op = doc.paths['/api/v1/monitor/compare'].get;
    expect(op.responses['200'].description).toMatch(/fewer than 5 participants is suppressed/);
    expect(op.responses['403']).toBeDefined();
  });
  it("suppresses device uptime when the company's devices sit in fewer than 5 participants' homes (second red-team pass)", async () => {
    // Site D: five consented participants in five homes; the company's one device is in the first home.
    const a = cliActor();
    await w.registry.createSite(a, { id: 'site-d', orgId: 'muni-b', name: 'site-d' });
    await w.registry.createTrial(a, {
      id: 'trial-site-d',
      orgId: 'muni-b',
      name: 'Trial site-d',
      phase: 'pilot',
      protocolVersion: '1',
      startAt: T0 - 30 * DAY,
      siteIds: ['site-d'],
    });
    for (let i = 1; i <= 5; i++) {
      await w.registry.createHome(a, { id: `home-d-${i}`, siteId: 'site-d' });
      await w.registry.createParticipant(a, {
        trialId: 'trial-site-d',
        homeId: `home-d-${i}`,
        enrolledAt: T0 - 30 * DAY,
        consentStatus: 'consented',
        legalBasis: 'consent',
      });
    }
    await w.registry.createDevice(a, { id: 'cup-d', kind: 'hydration', vendor: 'v', model: 'm', orgId: 'vendor' });
    await w.registry.createAssignment(a, { deviceId: 'cup-d', homeId: 'home-d-1', from: T0 - 30 * DAY });
    await w.monitor.view.refresh();
    const d = (await compare('company', 'site-d')).body.sites[0]!;
    expect(d.participants).toBe(5);
    expect(d.deviceUptime).toMatchObject({ estimate: null, n: 0, suppressed: 'fewer than 5 participants' });
    // The admin sees the figure, over the one device.
    expect((await compare('admin', 'site-d')).body.sites[0]!.deviceUptime!.n).toBe(1);
  });
});
