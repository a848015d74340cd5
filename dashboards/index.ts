// Trial dashboards as code: built with Grafana's foundation SDK (pinned exactly, pre-1.0), written
// by `testbed dashboards build --out DIR` together with Grafana's provisioning files.
//
// Where the data lives decides the datasource of each panel:
// * readings (battery, intake, falls, wetness, reporting counts…) are in InfluxDB: measurement =
//   kind; tags site, gateway, device, home, participant → the InfluxDB datasource, raw InfluxQL
//   written with ./influxql.ts;
// * monitoring state (device and gateway health with the outbox backlog, participant-day
//   completeness, site comparison with intervals, alerts and their labels, registry devices with
//   model and firmware) lives in monitor's SQLite and the registry, and is computed by the HTTP
//   API → the Infinity datasource against /api/v1/… with a bearer token (./infinity.ts). No copy
//   of that state is written to InfluxDB: the API is the one place that computes it, with roles.
//
// Layout: every panel gets a stable id and an explicit gridPos inside the 24-column grid (the
// SDK's auto-layout can overflow it and leaves panels without ids).
//
// Files: panels.ts (datasources, layout, variables), operations.ts and outcomes.ts (the
// dashboards), provisioning.ts (Grafana's provisioning files); this one builds and writes them.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import { compare, completeness, devices, fleet } from './operations.ts';
import { falls, hydration, incontinence, overview } from './outcomes.ts';
import { provisioning, type ProvisioningOptions } from './provisioning.ts';

export { InfluxQL, InfluxTarget, showTagValues } from './influxql.ts';
export { InfinityTarget } from './infinity.ts';
export { INFLUX_DS, API_DS, FOLDER } from './panels.ts';
export { provisioning, type ProvisioningOptions } from './provisioning.ts';

/** Every dashboard, as the JSON Grafana provisions. */
export function buildDashboards(): Dashboard[] {
  return [overview(), fleet(), completeness(), compare(), devices(), hydration(), falls(), incontinence()];
}

/**
 * Writes DIR/dashboards/<uid>.json and DIR/provisioning/{datasources,dashboards}/testbed.yaml.
 * Mount DIR/provisioning at /etc/grafana/provisioning and DIR/dashboards at /var/lib/grafana/dashboards.
 */
export function writeDashboards(outDir: string, o: ProvisioningOptions = {}): string[] {
  const written: string[] = [];
  const put = (path: string, body: string) => {
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, body);
    written.push(path);
  };
  for (const d of buildDashboards()) put(join(outDir, 'dashboards', `${d.uid}.json`), `${JSON.stringify(d, null, 2)}\n`);
  const p = provisioning(o);
  put(join(outDir, 'provisioning', 'datasources', 'testbed.yaml'), p.datasources);
  put(join(outDir, 'provisioning', 'dashboards', 'testbed.yaml'), p.dashboards);
  return written;
}
