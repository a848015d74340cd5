// Panels over monitoring state (device and gateway health, participant-day completeness, site
// comparison, alerts) read the testbed's own HTTP API through Grafana's Infinity datasource
// (yesoreyeram-infinity-datasource): that state lives in monitor's SQLite, not in InfluxDB, and the
// API already computes it (with roles). One bearer token, configured on the datasource, is sent
// with every request. The URL is relative to the datasource's URL (the testbed HTTP API).

import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import type { DataSourceRef } from '@grafana/grafana-foundation-sdk/common';

export interface InfinityColumn {
  selector: string;
  text: string;
  type: 'string' | 'number' | 'timestamp_epoch' | 'boolean';
}

export interface InfinityDataquery extends cog.Dataquery {
  refId: string;
  datasource?: DataSourceRef;
  type: 'json';
  source: 'url';
  parser: 'backend';
  format: 'table' | 'timeseries';
  url: string;
  url_options: { method: 'GET'; data: ''; params?: { key: string; value: string }[] };
  /** A JSONata expression (backend parser) selecting the rows. */
  root_selector: string;
  columns: InfinityColumn[];
}

export class InfinityTarget implements cog.Builder<cog.Dataquery> {
  #q: InfinityDataquery;
  constructor(path: string, datasource?: DataSourceRef) {
    if (!path.startsWith('/api/v1/')) throw new Error(`Infinity target: expected a path under /api/v1/, got ${path}`);
    this.#q = {
      refId: 'A',
      type: 'json',
      source: 'url',
      parser: 'backend',
      format: 'table',
      url: path,
      url_options: { method: 'GET', data: '' },
      root_selector: '',
      columns: [],
      _implementsDataqueryVariant() {},
    };
    if (datasource) this.#q.datasource = datasource;
  }
  refId(id: string): this {
    this.#q.refId = id;
    return this;
  }
  param(key: string, value: string): this {
    this.#q.url_options.params ??= [];
    this.#q.url_options.params.push({ key, value });
    return this;
  }
  root(selector: string): this {
    this.#q.root_selector = selector;
    return this;
  }
  column(selector: string, text: string, type: InfinityColumn['type'] = 'string'): this {
    this.#q.columns.push({ selector, text, type });
    return this;
  }
  format(f: InfinityDataquery['format']): this {
    this.#q.format = f;
    return this;
  }
  build(): cog.Dataquery {
    return this.#q;
  }
}
