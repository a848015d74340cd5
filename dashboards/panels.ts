// What every dashboard is built from: the two datasources, the grid layout, the template
// variables (trial, site, home, kind) and the target helpers for InfluxQL and the monitoring API.

import { DashboardBuilder, QueryVariableBuilder, CustomVariableBuilder, VariableRefresh } from '@grafana/grafana-foundation-sdk/dashboard';
import type { DataSourceRef } from '@grafana/grafana-foundation-sdk/common';
import { KIND_NAMES } from '../devices/index.ts';
import { InfluxQL, InfluxTarget, showTagValues } from './influxql.ts';
import { InfinityTarget } from './infinity.ts';

export const INFLUX_DS: DataSourceRef = { type: 'influxdb', uid: 'testbed-influxdb' };
export const API_DS: DataSourceRef = { type: 'yesoreyeram-infinity-datasource', uid: 'testbed-api' };
export const FOLDER = 'Testbed';

export type AnyPanel = { id(n: number): unknown; gridPos(g: { x: number; y: number; w: number; h: number }): unknown; build(): unknown };

/** Places panels left to right, wrapping when the next one would not fit in 24 columns. */
export function layout(d: DashboardBuilder, panels: [AnyPanel, number, number][]): DashboardBuilder {
  let x = 0;
  let y = 0;
  let rowH = 0;
  panels.forEach(([p, w, h], i) => {
    if (w > 24) throw new Error(`panel ${i + 1} is ${w} columns wide`);
    if (x + w > 24) {
      y += rowH;
      x = 0;
      rowH = 0;
    }
    p.id(i + 1);
    p.gridPos({ x, y, w, h });
    d.withPanel(p as Parameters<DashboardBuilder['withPanel']>[0]);
    x += w;
    rowH = Math.max(rowH, h);
  });
  return d;
}

// ── variables ────────────────────────────────────────────────────────────────────────────────

export const trialVar = () =>
  new QueryVariableBuilder('trial')
    .label('Trial')
    .datasource(API_DS)
    .query({ queryType: 'infinity', query: '', infinityQuery: new InfinityTarget('/api/v1/trials').root('$').column('id', 'id').build() })
    .refresh(VariableRefresh.OnDashboardLoad);
export const siteVar = () =>
  new QueryVariableBuilder('site')
    .label('Site')
    .datasource(INFLUX_DS)
    .query(showTagValues('site'))
    .multi(true)
    .includeAll(true)
    .refresh(VariableRefresh.OnDashboardLoad);
export const homeVar = () =>
  new QueryVariableBuilder('home')
    .label('Home')
    .datasource(INFLUX_DS)
    .query(showTagValues('home', { tag: 'site', value: '$site' }))
    .multi(true)
    .includeAll(true)
    .refresh(VariableRefresh.OnDashboardLoad);
export const kindVar = (kinds: readonly string[] = KIND_NAMES) =>
  new CustomVariableBuilder('kind')
    .label('Kind')
    .values(kinds.join(','))
    .multi(true)
    .includeAll(true)
    .current({ text: 'All', value: '$__all' });

/** Readings of the selected kinds, sites and homes in the dashboard's time range. */
export const readings = (measurement = '/^$kind$/') =>
  new InfluxQL().from(measurement).tagMatches('site', '$site').tagMatches('home', '$home').timeFilter();
export const influx = (q: InfluxQL, refId = 'A') => new InfluxTarget(q, INFLUX_DS).refId(refId);
export const api = (path: string, refId = 'A') => new InfinityTarget(path, API_DS).refId(refId);
/** Rows of a monitoring list narrowed to the selected sites (JSONata over the API's answer). */
export const bySite = (list: string) => `${list}[site in [\${site:doublequote}]]`;
// biome-ignore lint/suspicious/noTemplateCurlyInString: '${__from}' and '${__to}' are Grafana's time-range variables
export const range = { from: '${__from}', to: '${__to}' };

export function base(uid: string, title: string, description: string, tags: string[]): DashboardBuilder {
  return new DashboardBuilder(title)
    .uid(uid)
    .description(description)
    .tags(['testbed', ...tags])
    .editable()
    .refresh('1m')
    .time({ from: 'now-7d', to: 'now' })
    .timezone('browser');
}
