// The operational dashboards: fleet health, completeness, the site comparison and the device
// register — what the coordinators and the technicians watch, mostly from the monitoring API.

import { FieldColorBuilder, FieldColorModeId, type Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';
import * as table from '@grafana/grafana-foundation-sdk/table';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import * as bargauge from '@grafana/grafana-foundation-sdk/bargauge';
import * as statushistory from '@grafana/grafana-foundation-sdk/statushistory';
import { InfluxQL, fn } from './influxql.ts';
import type { InfinityTarget } from './infinity.ts';
import {
  type AnyPanel,
  INFLUX_DS,
  API_DS,
  layout,
  trialVar,
  siteVar,
  homeVar,
  kindVar,
  readings,
  influx,
  api,
  bySite,
  range,
  base,
} from './panels.ts';

export function fleet(): Dashboard {
  const d = base(
    'testbed-fleet',
    'Fleet health',
    'Gateways and devices: state from monitoring (what arrives, judged against each kind’s reporting), batteries and reporting from ' +
      'the readings.',
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

export function completeness(): Dashboard {
  const d = base(
    'testbed-completeness',
    'Data completeness',
    'Participant × day: covered / expected reporting slots (GET /api/v1/monitor/completeness), with the reasons for gaps; and the ' +
      'readings behind it.',
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

export function compare(): Dashboard {
  const d = base(
    'testbed-compare',
    'Site comparison',
    'The monitoring KPIs per site with 95 % intervals, and baseline versus intervention (GET /api/v1/monitor/compare). The ' +
      'participant is the unit.',
    ['comparison'],
  )
    .withVariable(trialVar())
    .withVariable(siteVar());
  const cmp = () =>
    // biome-ignore lint/suspicious/noTemplateCurlyInString: '${site:csv}' is a Grafana variable, interpolated by Grafana
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

export function devices(): Dashboard {
  const d = base(
    'testbed-devices',
    'Devices and companies',
    'Per device: hours with readings (uptime), loss in transit, alerts and how staff labelled them, by model and firmware from the ' +
      'registry.',
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
