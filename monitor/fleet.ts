// The fleet as a caller may see it: every device and gateway heard from, with its health status,
// who it serves now, and why its alarms are suppressed (maintenance, an absent participant).
// Narrowed by the caller's access: a coordinator's sites; a company's own devices and gateways,
// without participant ids.

import type { AlertEngine } from './alerts.ts';
import { type HealthTracker, reportingOf } from './health.ts';
import { type Maintenance, maintenanceNote } from './maintenance.ts';
import type { Access, RegistryView } from './registry-view.ts';

export interface FleetSources {
  health: HealthTracker;
  engine: AlertEngine;
  view: RegistryView;
  maintenance: Maintenance;
}

export type DeviceFilter = 'ok' | 'late' | 'silent' | 'battery-low' | 'problem';

/** Devices, sorted by site, gateway, device; `status: 'problem'` keeps every one that is not ok. */
export function fleetDevices(
  s: FleetSources,
  access: Access,
  q: { site?: string | undefined; status?: DeviceFilter | undefined },
  now: number,
) {
  const snap = s.view.snapshot;
  const out = [];
  for (const dev of s.health.devices.values()) {
    if (q.site && dev.site !== q.site) continue;
    if (access.sites && !access.sites.has(dev.site)) continue;
    const ownsGateway = snap.gatewayOrg.get(`${dev.site}/${dev.gateway}`) === access.org;
    if (access.org !== null && snap.deviceOrg.get(dev.device) !== access.org && !ownsGateway) continue;
    const st = s.health.deviceStatus(dev, now, s.engine.thresholdsFor(dev.site).batteryLowPct);
    if (q.status === 'problem' ? st.status === 'ok' : q.status && st.status !== q.status) continue;
    const who = s.view.attribute(dev.device, now);
    const m = s.maintenance.active(dev.site, dev.gateway, dev.device, now);
    const absent = s.view.absentAt(who?.participant ?? null, who?.home ?? null, now);
    const r = reportingOf(dev.kind);
    out.push({
      site: dev.site,
      gateway: dev.gateway,
      device: dev.device,
      kind: dev.kind,
      status: st.status,
      lastSeen: dev.lastTs,
      lastArrival: dev.lastArrival,
      ageS: Math.round(st.ageS),
      lateAfterS: r.lateAfterS,
      silentAfterS: r.silentAfterS,
      battery: dev.battery,
      home: who?.home ?? null,
      participant: access.participants ? (who?.participant ?? null) : null,
      cause: st.cause,
      reason: st.reason,
      suppressed: m ? maintenanceNote(m) : absent ? `participant absent (${absent.reason})` : null,
    });
  }
  return out.sort((x, y) => x.site.localeCompare(y.site) || x.gateway.localeCompare(y.gateway) || x.device.localeCompare(y.device));
}

/** Gateways, sorted by site and gateway. */
export function fleetGateways(s: FleetSources, access: Access, q: { site?: string | undefined }, now: number) {
  const out = [];
  for (const g of s.health.gateways.values()) {
    if (q.site && g.site !== q.site) continue;
    if (access.sites && !access.sites.has(g.site)) continue;
    if (access.org !== null && s.view.snapshot.gatewayOrg.get(`${g.site}/${g.gateway}`) !== access.org) continue;
    const m = s.maintenance.active(g.site, g.gateway, null, now);
    out.push({ ...s.health.gatewayView(g, now), suppressed: m ? maintenanceNote(m) : null });
  }
  return out.sort((x, y) => x.site.localeCompare(y.site) || x.gateway.localeCompare(y.gateway));
}
