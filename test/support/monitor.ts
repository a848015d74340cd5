// Shared set-up for monitoring tests: a registry with a trial whose participants and devices match
// a simulator scenario, the scenario's deliveries written to a store, and a monitor fed directly.

import { parseScenario, simulate, type Delivery } from '../../simulators/index.ts';
import type { ReadingStore, StorePoint } from '../../ingest/index.ts';
import { openRegistry, cliActor, type Registry } from '../../registry/index.ts';
import type { Scenario } from '../../simulators/index.ts';

export const START = Date.UTC(2025, 0, 5, 23, 0, 0); // local midnight (UTC+1) of 2025-01-06
export const HOUR = 3_600_000;
export const DAY = 86_400_000;

export function scenario(doc: Record<string, unknown>): Scenario {
  return parseScenario({ name: 't', start: new Date(START).toISOString(), days: 3, seed: 7, ...doc });
}

/** A small pilot: one site, homes with the given devices, one participant each. */
export function pilot(
  sites: { id: string; homes: string[] }[],
  devices: Record<string, unknown>[],
  faults: Record<string, unknown>[] = [],
  days = 3,
): Scenario {
  return scenario({
    days,
    sites: sites.map((s) => ({ id: s.id, utcOffsetMin: 60, homes: s.homes.map((h) => ({ id: h, resident: 'independent', devices })) })),
    faults,
  });
}

export function deliveries(sc: Scenario): Delivery[] {
  return [...simulate({ scenario: sc })];
}

export function toPoints(ds: Delivery[], drop: (r: { dev: string; seq: number }) => boolean = () => false): StorePoint[] {
  const out: StorePoint[] = [];
  ds.forEach((d, i) => {
    if (d.type !== 'reading' || drop(d.reading)) return;
    const { site, gw, home: _home, ...reading } = d.reading;
    out.push({ site, gateway: gw, batch: 1, idx: i, reading });
  });
  return out;
}

export async function writeAll(store: ReadingStore, points: StorePoint[]): Promise<void> {
  for (let i = 0; i < points.length; i += 5000) await store.write(points.slice(i, i + 5000));
}

let pseudo = 0;
export function pseudonym(): string {
  const A = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
  let n = ++pseudo;
  let s = '';
  for (let i = 0; i < 6; i++) {
    s = A[n % 32] + s;
    n = Math.floor(n / 32);
  }
  return `P-${s}`;
}

/** Registers the scenario's sites, homes and devices, one participant per home enrolled at START. */
export async function registerPilot(
  dataDir: string,
  sc: Scenario,
  enrolledAt = START,
): Promise<{ registry: Registry; participants: Map<string, string> }> {
  const registry = await openRegistry({ dataDir });
  const a = cliActor();
  await registry.createOrganisation(a, { id: 'muni', name: 'Municipality', type: 'municipality' });
  await registry.createOrganisation(a, { id: 'vendor', name: 'Vendor', type: 'company' });
  for (const s of sc.sites) await registry.createSite(a, { id: s.id, orgId: 'muni', name: s.id });
  await registry.createTrial(a, {
    id: 'trial-1',
    orgId: 'muni',
    name: 'Trial',
    phase: 'pilot',
    protocolVersion: '1',
    startAt: enrolledAt,
    siteIds: sc.sites.map((s) => s.id),
  });
  const participants = new Map<string, string>();
  for (const s of sc.sites)
    for (const h of s.homes) {
      await registry.createHome(a, { id: h.id, siteId: s.id });
      const p = await registry.createParticipant(a, {
        id: pseudonym(),
        trialId: 'trial-1',
        homeId: h.id,
        enrolledAt,
        consentStatus: 'consented',
        legalBasis: 'consent',
      });
      participants.set(h.id, p.id);
      for (const d of h.devices) {
        const id = d.id;
        await registry.createDevice(a, { id, kind: d.kind, vendor: 'v', model: 'm', orgId: 'vendor' });
        await registry.createAssignment(a, { deviceId: id, homeId: h.id, from: enrolledAt - DAY });
      }
    }
  return { registry, participants };
}

/** An up batch payload for the monitor's observe(). */
export function upPayload(gw: string, readings: unknown[], batch = 1): string {
  return JSON.stringify({ gw, batch, sent: Date.now(), readings });
}
