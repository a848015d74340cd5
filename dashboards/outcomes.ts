// The outcome dashboards — hydration, falls, incontinence — from the readings in InfluxDB, and
// the overview that links every dashboard.

import type { Dashboard } from '@grafana/grafana-foundation-sdk/dashboard';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';
import * as table from '@grafana/grafana-foundation-sdk/table';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import * as statushistory from '@grafana/grafana-foundation-sdk/statushistory';
import * as text from '@grafana/grafana-foundation-sdk/text';
import { fn } from './influxql.ts';
import { INFLUX_DS, layout, siteVar, homeVar, readings, influx, base } from './panels.ts';

export function hydration(): Dashboard {
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

export function falls(): Dashboard {
  const d = base(
    'testbed-falls',
    'Falls',
    'Fall detectors: reported falls, detector states and presence (InfluxDB, measurement fall). Alerts and their labels are in the ' +
      'console and the Devices dashboard.',
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

export function incontinence(): Dashboard {
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

export function overview(): Dashboard {
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
