// The demo pilot as a trial in the registry, so that `testbed up` shows participant-days,
// completeness and comparison out of the box: one organisation, one trial over the scenario's
// sites, one home and one pseudonymous participant per simulated home (enrolled when the
// simulated history starts), and the home's devices assigned to it. Skipped when the trial
// exists (the data dir keeps it across runs).

import type { Actor, Registry } from '../registry/index.ts';
import type { Scenario } from '../simulators/index.ts';

const ACTOR: Actor = { id: 'system:demo', role: 'admin', orgId: null, tokenId: null };
const TRIAL = 'demo-pilot';
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

export async function registerDemoTrial(registry: Registry, scenario: Scenario, enrolledAt: number): Promise<boolean> {
  if ((await registry.db.get('SELECT id FROM trials WHERE id = ?', [TRIAL])) !== undefined) return false;
  await registry.createOrganisation(ACTOR, { id: 'demo-region', name: 'Demo region', type: 'region' });
  await registry.createOrganisation(ACTOR, { id: 'demo-vendor', name: 'Demo device company', type: 'company' });
  for (const s of scenario.sites) {
    if ((await registry.db.get('SELECT id FROM sites WHERE id = ?', [s.id])) === undefined)
      await registry.createSite(ACTOR, { id: s.id, orgId: 'demo-region', name: s.id });
  }
  await registry.createTrial(ACTOR, {
    id: TRIAL,
    orgId: 'demo-region',
    name: 'Demo pilot',
    phase: 'pilot',
    protocolVersion: '1',
    startAt: enrolledAt,
    siteIds: scenario.sites.map((s) => s.id),
  });
  let n = 0;
  for (const s of scenario.sites)
    for (const h of s.homes) {
      await registry.createHome(ACTOR, { id: h.id, siteId: s.id, label: `${h.profileName} resident` });
      let k = 0x5a5a + ++n * 7919;
      let id = '';
      for (let i = 0; i < 6; i++) {
        id = ALPHABET[k % 32] + id;
        k = Math.floor(k / 32);
      }
      await registry.createParticipant(ACTOR, {
        id: `P-${id}`,
        trialId: TRIAL,
        homeId: h.id,
        enrolledAt,
        consentStatus: 'consented',
        legalBasis: 'consent',
      });
      for (const d of h.devices) {
        await registry.createDevice(ACTOR, { id: d.id, kind: d.kind, vendor: 'demo', model: d.kind, orgId: 'demo-vendor' });
        await registry.createAssignment(ACTOR, { deviceId: d.id, homeId: h.id, from: enrolledAt });
      }
    }
  return true;
}
