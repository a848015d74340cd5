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

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  DashboardBuilder,
  QueryVariableBuilder,
  CustomVariableBuilder,
  FieldColorBuilder,
  FieldColorModeId,
  VariableRefresh,
  type Dashboard,
} from '@grafana/grafana-foundation-sdk/dashboard';
import type { DataSourceRef } from '@grafana/grafana-foundation-sdk/common';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';
import * as table from '@grafana/grafana-foundation-sdk/table';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import * as bargauge from '@grafana/grafana-foundation-sdk/bargauge';
import * as statushistory from '@grafana/grafana-foundation-sdk/statushistory';
import * as text from '@grafana/grafana-foundation-sdk/text';
import { KIND_NAMES } from '../devices/index.ts';
import { InfluxQL, InfluxTarget, fn, showTagValues } from './influxql.ts';
import { InfinityTarget } from './infinity.ts';

export { InfluxQL, InfluxTarget, showTagValues } from './influxql.ts';
export { InfinityTarget } from './infinity.ts';

export const INFLUX_DS: DataSourceRef = { type: 'influxdb', uid: 'testbed-influxdb' };
export const API_DS: DataSourceRef = { type: 'yesoreyeram-infinity-datasource', uid: 'testbed-api' };
export const FOLDER = 'Testbed';

type AnyPanel = { id(n: number): unknown; gridPos(g: { x: number; y: number; w: number; h: number }): unknown; build(): unknown };

/** Places panels left to right, wrapping when the next one would not fit in 24 columns. */
function layout(d: DashboardBuilder, panels: [AnyPanel, number, number][]): DashboardBuilder {
  let x = 0;
  let y = 0;
  let rowH = 0;
  panels.forEach(([p, w, h], i) => {
    if (w > 24) throw new Error(`panel ${i + 1} is ${w} columns wide`);
    if (x + w > 24) (y += rowH), (x = 0), (rowH = 0);
    p.id(i + 1);
    p.gridPos({ x, y, w, h });
    d.withPanel(p as Parameters<DashboardBuilder['withPanel']>[0]);
    x += w;
    rowH = Math.max(rowH, h);
  });
  return d;
}

// ── variables ────────────────────────────────────────────────────────────────────────────────

const trialVar = () =>
  new QueryVariableBuilder('trial')
    .label('Trial')
    .datasource(API_DS)
    .query({ queryType: 'infinity', query: '', infinityQuery: new InfinityTarget('/api/v1/trials').root('$').column('id', 'id').build() })
    .refresh(VariableRefresh.OnDashboardLoad);
const siteVar = () =>
  new QueryVariableBuilder('site')
    .label('Site')
    .datasource(INFLUX_DS)
    .query(showTagValues('site'))
    .multi(true)
    .includeAll(true)
    .refresh(VariableRefresh.OnDashboardLoad);
const homeVar = () =>
  new QueryVariableBuilder('home')
    .label('Home')
    .datasource(INFLUX_DS)
    .query(showTagValues('home', { tag: 'site', value: '$site' }))
    .multi(true)
    .includeAll(true)
    .refresh(VariableRefresh.OnDashboardLoad);
const kindVar = (kinds: readonly string[] = KIND_NAMES) =>
  new CustomVariableBuilder('kind')
    .label('Kind')
    .values(kinds.join(','))
    .multi(true)
    .includeAll(true)
    .current({ text: 'All', value: '$__all' });

/** Readings of the selected kinds, sites and homes in the dashboard's time range. */
const readings = (measurement = '/^$kind$/') =>
  new InfluxQL().from(measurement).tagMatches('site', '$site').tagMatches('home', '$home').timeFilter();
const influx = (q: InfluxQL, refId = 'A') => new InfluxTarget(q, INFLUX_DS).refId(refId);
const api = (path: string, refId = 'A') => new InfinityTarget(path, API_DS).refId(refId);
/** Rows of a monitoring list narrowed to the selected sites (JSONata over the API's answer). */
const bySite = (list: string) => `${list}[site in [\${site:doublequote}]]`;
const range = { from: '${__from}', to: '${__to}' };

function base(uid: string, title: string, description: string, tags: string[]): DashboardBuilder {
  return new DashboardBuilder(title)
    .uid(uid)
    .description(description)
    .tags(['testbed', ...tags])
    .editable()
    .refresh('1m')
    .time({ from: 'now-7d', to: 'now' })
    .timezone('browser');
}

// ── dashboards ───────────────────────────────────────────────────────────────────────────────

function fleet(): Dashboard {
  const d = base(
    'testbed-fleet',
    'Fleet health',
    'Gateways and devices: state from monitoring (what arrives, judged against each kind’s reporting), batteries and reporting from the readings.',
    ['fleet'],
  )
    .withVariable(siteVar())
    .withVariable(homeVar())
    .withVariable(kindVar());
  return layout(d, [
    [
      new stat.PanelBuilder()
        .title('Devices by state')
        .description('From GET /api/v1/monitor/devices: ok, late, silent, battery-low.')
        .datasource(API_DS)
        .withTarget(api('/api/v1/monitor/devices').root(bySite('devices')).column('device', 'device').column('status', 'status'))
        .withTransformation({
          id: 'groupBy',
          options: {
            fields: { status: { operation: 'groupby', aggregations: [] }, device: { operation: 'aggregate', aggregations: ['count'] } },
          },
        }),
      8,
      6,
    ],
    [
      new table.PanelBuilder()
        .title('Gateways')
        .description('Online, offline or degraded, with the outbox backlog each gateway last reported (GET /api/v1/monitor/gateways).')
        .datasource(API_DS)
        .withTarget(
          api('/api/v1/monitor/gateways')
            .root(bySite('gateways'))
            .column('site', 'site')
            .column('gateway', 'gateway')
            .column('status', 'status')
            .column('outboxDepth', 'outbox', 'number')
            .column('outboxOldestAgeS', 'oldest queued (s)', 'number')
            .column('adapter', 'adapter'),
        ),
      16,
      6,
    ],
    [
      new bargauge.PanelBuilder()
        .title('Outbox backlog per gateway')
        .description('Readings queued in each gateway’s outbox (its last health message).')
        .datasource(API_DS)
        .unit('short')
        .min(0)
        .withTarget(
          api('/api/v1/monitor/gateways', 'A')
            .root(bySite('gateways'))
            .column('gateway', 'gateway')
            .column('outboxDepth', 'outbox', 'number'),
        ),
      12,
      8,
    ],
    [
      new bargauge.PanelBuilder()
        .title('Battery, last reported')
        .description('Last battery % per device in the time range (readings).')
        .datasource(INFLUX_DS)
        .unit('percent')
        .min(0)
        .max(100)
        .withTarget(
          influx(
            readings()
              .select(fn('last', 'battery', 'battery'))
              .groupByTags('device'),
          )
            .format('time_series')
            .alias('$tag_device'),
        ),
      12,
      8,
    ],
    [
      new timeseries.PanelBuilder()
        .title('Battery over time')
        .datasource(INFLUX_DS)
        .unit('percent')
        .min(0)
        .max(100)
        .withTarget(influx(readings().select(fn('min', 'battery')).groupByTime().groupByTags('device').fill('none')).alias('$tag_device')),
      12,
      8,
    ],
    [
      new timeseries.PanelBuilder()
        .title('Readings received per site')
        .description('Readings stored, by site (all selected kinds).')
        .datasource(INFLUX_DS)
        .unit('short')
        .withTarget(
          influx(readings().select(fn('count', 'seq')).groupByTime().groupByTags('site').fill(0)).alias('$tag_site $measurement'),
        ),
      12,
      8,
    ],
    [
      new table.PanelBuilder()
        .title('Devices needing attention')
        .description('Late, silent or battery-low devices with the likely cause (GET /api/v1/monitor/devices?status=problem).')
        .datasource(API_DS)
        .withTarget(
          api('/api/v1/monitor/devices')
            .param('status', 'problem')
            .root(bySite('devices'))
            .column('site', 'site')
            .column('gateway', 'gateway')
            .column('device', 'device')
            .column('kind', 'kind')
            .column('status', 'status')
            .column('battery', 'battery', 'number')
            .column('cause', 'cause')
            .column('reason', 'reason'),
        ),
      24,
      9,
    ],
  ]).build();
}

function completeness(): Dashboard {
  const d = base(
    'testbed-completeness',
    'Data completeness',
    'Participant × day: covered / expected reporting slots (GET /api/v1/monitor/completeness), with the reasons for gaps; and the readings behind it.',
    ['completeness'],
  )
    .withVariable(trialVar())
    .withVariable(siteVar())
    .withVariable(homeVar())
    .withVariable(kindVar());
  const days = () => api('/api/v1/monitor/completeness').param('trial', '$trial').param('from', range.from).param('to', range.to);
  return layout(d, [
    [
      new stat.PanelBuilder()
        .title('Completeness, selected period')
        .unit('percentunit')
        .datasource(API_DS)
        .withTarget(
          days()
            .root('summary')
            .column('completeness', 'completeness', 'number')
            .column('participantDays', 'participant-days', 'number')
            .column('lost', 'lost in transit', 'number'),
        ),
      24,
      5,
    ],
    [
      new statushistory.PanelBuilder()
        .title('Participant × day completeness')
        .description('One row per participant, one cell per local day, coloured by covered/expected slots.')
        .datasource(API_DS)
        .unit('percentunit')
        .min(0)
        .max(1)
        .colorScheme(new FieldColorBuilder().mode(FieldColorModeId.ContinuousRdYlGr))
        .withTarget(
          days()
            .root(bySite('days'))
            .column('dayStart', 'day', 'timestamp_epoch')
            .column('participant', 'participant')
            .column('completeness', 'completeness', 'number'),
        )
        .withTransformation({ id: 'partitionByValues', options: { fields: ['participant'], keepFields: false } }),
      24,
      10,
    ],
    [
      new statushistory.PanelBuilder()
        .title('Readings per home and day')
        .description('Readings stored per home and day (InfluxDB), for the selected kinds.')
        .datasource(INFLUX_DS)
        .withTarget(
          influx(readings().select(fn('count', 'seq')).groupByTime('1d').groupByTags('home').fill(0)).alias('$tag_home $measurement'),
        ),
      24,
      10,
    ],
    [
      new table.PanelBuilder()
        .title('Participant-days with gaps, and why')
        .datasource(API_DS)
        .withTarget(
          days()
            .root(`${bySite('days')}[completeness < 1]`)
            .column('date', 'day')
            .column('site', 'site')
            .column('home', 'home')
            .column('participant', 'participant')
            .column('completeness', 'completeness', 'number')
            .column('lost', 'lost', 'number')
            .column('gatewayOfflineHours', 'gateway offline (h)', 'number')
            .column('absentHours', 'absent (h)', 'number')
            .column('reasons', 'reasons'),
        ),
      24,
      10,
    ],
  ]).build();
}

function compare(): Dashboard {
  const d = base(
    'testbed-compare',
    'Site comparison',
    'The monitoring KPIs per site with 95 % intervals, and baseline versus intervention (GET /api/v1/monitor/compare). The participant is the unit.',
    ['comparison'],
  )
    .withVariable(trialVar())
    .withVariable(siteVar());
  const cmp = () =>
    api('/api/v1/monitor/compare').param('trial', '$trial').param('sites', '${site:csv}').param('from', range.from).param('to', range.to);
  const kpi = (t: InfinityTarget, key: string) =>
    t
      .column(`${key}.estimate`, 'estimate', 'number')
      .column(`${key}.lower`, 'lower 95%', 'number')
      .column(`${key}.upper`, 'upper 95%', 'number')
      .column(`${key}.n`, 'n', 'number');
  const metrics: [string, string, string][] = [
    ['completeness', 'Completeness', 'percentunit'],
    ['deviceUptime', 'Device uptime', 'percentunit'],
    ['careAlertsPerParticipantWeek', 'Care alerts per participant-week', 'short'],
    ['technicalAlertsPerParticipantWeek', 'Technical alerts per participant-week', 'short'],
    ['falseAlarmRate', 'False-alarm rate', 'percentunit'],
    ['dailyFluidIntakeMl', 'Daily fluid intake', 'ml'],
    ['nightToiletVisits', 'Night-time toilet visits', 'short'],
    ['timeInBedHours', 'Time in bed', 'h'],
  ];
  return layout(d, [
    ...metrics.map(
      ([key, title, unit]) =>
        [
          new table.PanelBuilder()
            .title(`${title} (95 % CI)`)
            .datasource(API_DS)
            .unit(unit)
            .withTarget(kpi(cmp().root('sites').column('site', 'site'), key)),
          12,
          7,
        ] as [AnyPanel, number, number],
    ),
    [
      new table.PanelBuilder()
        .title('Baseline vs intervention: completeness (paired difference)')
        .description('Needs the trial’s periods (PUT /api/v1/monitor/periods/{trial}).')
        .datasource(API_DS)
        .withTarget(
          cmp()
            .root('baselineVsIntervention.sites')
            .column('site', 'site')
            .column('baseline.completeness.estimate', 'baseline', 'number')
            .column('intervention.completeness.estimate', 'intervention', 'number')
            .column('difference.completeness.estimate', 'difference', 'number')
            .column('difference.completeness.lower', 'lower 95%', 'number')
            .column('difference.completeness.upper', 'upper 95%', 'number'),
        ),
      24,
      7,
    ],
  ]).build();
}

function devices(): Dashboard {
  const d = base(
    'testbed-devices',
    'Devices and companies',
    'Per device: hours with readings (uptime), loss in transit, alerts and how staff labelled them, by model and firmware from the registry.',
    ['devices'],
  )
    .withVariable(siteVar())
    .withVariable(homeVar())
    .withVariable(kindVar());
  const hours = new InfluxQL()
    .select(fn('count', 'n', 'hours'))
    .from(
      readings()
        .select(fn('count', 'seq', 'n'))
        .groupByTime('1h')
        .groupByTags('device'),
    )
    .groupByTags('device');
  return layout(d, [
    [
      new table.PanelBuilder()
        .title('Hours with readings per device')
        .description('Uptime: hours in the range in which the device delivered at least one reading (InfluxDB).')
        .datasource(INFLUX_DS)
        .withTarget(influx(hours).format('table')),
      12,
      10,
    ],
    [
      new table.PanelBuilder()
        .title('Loss in transit per device')
        .description('Seq gaps: readings the gateway numbered that never arrived (GET /api/v1/monitor/loss).')
        .datasource(API_DS)
        .withTarget(
          api('/api/v1/monitor/loss')
            .param('from', range.from)
            .param('to', range.to)
            .root(bySite('devices'))
            .column('device', 'device')
            .column('kind', 'kind')
            .column('received', 'received', 'number')
            .column('lost', 'lost', 'number'),
        ),
      12,
      10,
    ],
    [
      new table.PanelBuilder()
        .title('Alarms and false alarms per model and firmware')
        .description('Alerts joined with the registry’s devices (model, firmware), grouped; label = how staff judged it.')
        .datasource(API_DS)
        .withTarget(
          api('/api/v1/alerts', 'A')
            .param('since', range.from)
            .root('$[device != null]')
            .column('device', 'device')
            .column('rule', 'rule')
            .column('label', 'label'),
        )
        .withTarget(
          api('/api/v1/devices', 'B')
            .param('limit', '1000')
            .root('$')
            .column('id', 'device')
            .column('vendor', 'vendor')
            .column('model', 'model')
            .column('firmware', 'firmware'),
        )
        .withTransformation({ id: 'joinByField', options: { byField: 'device', mode: 'inner' } })
        .withTransformation({
          id: 'groupBy',
          options: {
            fields: {
              model: { operation: 'groupby', aggregations: [] },
              firmware: { operation: 'groupby', aggregations: [] },
              rule: { operation: 'groupby', aggregations: [] },
              label: { operation: 'groupby', aggregations: [] },
              device: { operation: 'aggregate', aggregations: ['count'] },
            },
          },
        }),
      24,
      9,
    ],
    [
      new timeseries.PanelBuilder()
        .title('Signal (LQI) per device')
        .datasource(INFLUX_DS)
        .withTarget(influx(readings().select(fn('mean', 'lqi')).groupByTime().groupByTags('device').fill('none')).alias('$tag_device')),
      24,
      8,
    ],
  ]).build();
}

function hydration(): Dashboard {
  const d = base('testbed-hydration', 'Hydration', 'Smart cups: what each participant drank (InfluxDB, measurement hydration).', [
    'kind',
    'hydration',
  ])
    .withVariable(siteVar())
    .withVariable(homeVar());
  const h = () => readings('hydration');
  return layout(d, [
    [
      new timeseries.PanelBuilder()
        .title('Fluid intake per participant and day')
        .datasource(INFLUX_DS)
        .unit('ml')
        .withTarget(
          influx(h().select(fn('sum', 'intake_ml')).groupByTime('1d').groupByTags('participant').fill(0)).alias('$tag_participant'),
        ),
      24,
      9,
    ],
    [
      new timeseries.PanelBuilder()
        .title('Drinks per hour')
        .datasource(INFLUX_DS)
        .unit('short')
        .withTarget(
          influx(h().select(fn('count', 'intake_ml')).where('intake_ml', '>', 0).groupByTime('1h').groupByTags('home').fill(0)).alias(
            '$tag_home',
          ),
        ),
      12,
      8,
    ],
    [
      new timeseries.PanelBuilder()
        .title('Volume left in the vessel')
        .datasource(INFLUX_DS)
        .unit('ml')
        .withTarget(influx(h().select(fn('last', 'level_ml')).groupByTime().groupByTags('device').fill('none')).alias('$tag_device')),
      12,
      8,
    ],
  ]).build();
}

function falls(): Dashboard {
  const d = base(
    'testbed-falls',
    'Falls',
    'Fall detectors: reported falls, detector states and presence (InfluxDB, measurement fall). Alerts and their labels are in the console and the Devices dashboard.',
    ['kind', 'fall'],
  )
    .withVariable(siteVar())
    .withVariable(homeVar());
  const f = () => readings('fall');
  return layout(d, [
    [
      new stat.PanelBuilder()
        .title('Fall reports')
        .datasource(INFLUX_DS)
        .withTarget(influx(f().select(fn('count', 'fall')).where('fall', '=', true))),
      6,
      6,
    ],
    [
      new timeseries.PanelBuilder()
        .title('Detector reports per home (status and events)')
        .datasource(INFLUX_DS)
        .withTarget(influx(f().select(fn('count', 'seq')).groupByTime('1h').groupByTags('home').fill(0)).alias('$tag_home')),
      18,
      6,
    ],
    [
      new table.PanelBuilder()
        .title('Recent fall events')
        .datasource(INFLUX_DS)
        .withTarget(
          influx(
            f().select('"home"', '"device"', '"fall"', '"state"', '"confidence_pct"').where('fall', '=', true).orderByTimeDesc().limit(200),
          ).format('table'),
        ),
      24,
      8,
    ],
    [
      new statushistory.PanelBuilder()
        .title('Presence in the radar field')
        .datasource(INFLUX_DS)
        .withTarget(influx(f().select(fn('last', 'presence')).groupByTime('15m').groupByTags('device').fill('none')).alias('$tag_device')),
      24,
      8,
    ],
  ]).build();
}

function incontinence(): Dashboard {
  const d = base(
    'testbed-incontinence',
    'Incontinence',
    'Moisture sensors: wet reports and wetness (InfluxDB, measurement incontinence).',
    ['kind', 'incontinence'],
  )
    .withVariable(siteVar())
    .withVariable(homeVar());
  const w = () => readings('incontinence');
  return layout(d, [
    [
      new timeseries.PanelBuilder()
        .title('Wet reports per home and day')
        .datasource(INFLUX_DS)
        .withTarget(
          influx(w().select(fn('count', 'wet')).where('wet', '=', true).groupByTime('1d').groupByTags('home').fill(0)).alias('$tag_home'),
        ),
      12,
      8,
    ],
    [
      new timeseries.PanelBuilder()
        .title('Wetness')
        .datasource(INFLUX_DS)
        .unit('percent')
        .withTarget(influx(w().select(fn('max', 'wetness_pct')).groupByTime().groupByTags('device').fill('none')).alias('$tag_device')),
      12,
      8,
    ],
    [
      new table.PanelBuilder()
        .title('Recent wet reports')
        .datasource(INFLUX_DS)
        .withTarget(
          influx(w().select('"home"', '"device"', '"wet"', '"wetness_pct"').where('wet', '=', true).orderByTimeDesc().limit(200)).format(
            'table',
          ),
        ),
      24,
      8,
    ],
  ]).build();
}

function overview(): Dashboard {
  return layout(base('testbed-overview', 'Testbed overview', 'Where to look.', ['overview']), [
    [
      new text.PanelBuilder()
        .title('Dashboards')
        .content(
          [
            '- **Fleet health** — gateways, devices by state, batteries, outbox backlog',
            '- **Data completeness** — participant × day, with the reasons for gaps',
            '- **Site comparison** — KPIs with 95 % intervals, baseline vs intervention',
            '- **Devices and companies** — uptime, loss, false alarms per model and firmware',
            '- **Hydration**, **Falls**, **Incontinence** — per kind',
            '',
            'Readings come from InfluxDB; monitoring state from the testbed API (Infinity datasource). Not a clinical alarm system.',
          ].join('\n'),
        ),
      24,
      8,
    ],
  ]).build();
}

/** Every dashboard, as the JSON Grafana provisions. */
export function buildDashboards(): Dashboard[] {
  return [overview(), fleet(), completeness(), compare(), devices(), hydration(), falls(), incontinence()];
}

export interface ProvisioningOptions {
  /** URL of InfluxDB as Grafana sees it. */
  influxUrl?: string;
  influxDb?: string;
  /** URL of the testbed HTTP API as Grafana sees it. */
  apiUrl?: string;
  /** Where Grafana finds the dashboard JSON (inside its container). */
  dashboardsPath?: string;
}

/** Grafana's provisioning files: datasources with fixed uids, one file dashboard provider. Values as `${ENV}` where they are secrets. */
export function provisioning(o: ProvisioningOptions = {}): { datasources: string; dashboards: string } {
  const influxUrl = o.influxUrl ?? 'http://influxdb:8086';
  const apiUrl = o.apiUrl ?? 'http://ingest:8080';
  const datasources = `# Generated by \`testbed dashboards build\`. Do not edit by hand.
apiVersion: 1
datasources:
  - name: InfluxDB (testbed readings)
    uid: ${INFLUX_DS.uid}
    type: ${INFLUX_DS.type}
    access: proxy
    url: ${influxUrl}
    isDefault: true
    editable: false
    jsonData:
      dbName: ${o.influxDb ?? 'testbed'}
      httpMode: POST
  - name: Testbed API (monitoring)
    uid: ${API_DS.uid}
    type: ${API_DS.type}
    access: proxy
    url: ${apiUrl}
    editable: false
    jsonData:
      allowedHosts:
        - ${apiUrl}
      httpHeaderName1: Authorization
    secureJsonData:
      # A token from \`testbed token create --role coordinator\` (or admin), given to Grafana's container.
      httpHeaderValue1: Bearer $TESTBED_GRAFANA_TOKEN
`;
  const dashboards = `# Generated by \`testbed dashboards build\`. Do not edit by hand.
apiVersion: 1
providers:
  - name: testbed
    orgId: 1
    folder: ${FOLDER}
    type: file
    disableDeletion: true
    allowUiUpdates: false
    updateIntervalSeconds: 60
    options:
      path: ${o.dashboardsPath ?? '/var/lib/grafana/dashboards'}
`;
  return { datasources, dashboards };
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
  for (const d of buildDashboards()) put(join(outDir, 'dashboards', `${d.uid}.json`), JSON.stringify(d, null, 2) + '\n');
  const p = provisioning(o);
  put(join(outDir, 'provisioning', 'datasources', 'testbed.yaml'), p.datasources);
  put(join(outDir, 'provisioning', 'dashboards', 'testbed.yaml'), p.dashboards);
  return written;
}
