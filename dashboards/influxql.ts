// The InfluxQL query builder the Grafana foundation SDK does not ship (0.0.21 has Prometheus,
// Loki, Elasticsearch… but no InfluxDB). Two halves:
//
// * `InfluxQL` composes the query text: identifiers double-quoted, string literals single-quoted,
//   tag filters as anchored regexes so a Grafana multi-value variable (`/^$site$/` becomes
//   `/^(a|b)$/`) works, and Grafana's `$timeFilter` / `$__interval` macros kept as macros.
// * `InfluxTarget` is the panel target Grafana's InfluxDB datasource reads for a raw InfluxQL
//   query (`query`, `rawQuery: true`, `resultFormat`, `alias`), as a `cog.Builder<cog.Dataquery>`
//   so it plugs into the SDK's `withTarget()`.

import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import type { DataSourceRef } from '@grafana/grafana-foundation-sdk/common';
import { quoteInfluxIdent, quoteInfluxString } from '../lib/quote.ts';

/** A name quoted as an identifier; `*` and a regex (`/^$kind$/`) are kept as they are. */
const ident = (s: string) => (s === '*' || /^\/.*\/$/.test(s) ? s : quoteInfluxIdent(s));
const literal = (v: string | number | boolean) => (typeof v === 'string' ? quoteInfluxString(v) : String(v));

/** A field expression: `"intake_ml"`, `sum("intake_ml")`, `count("seq") AS "n"`. */
export const field = (name: string) => ident(name);
export const fn = (f: string, name: string, as?: string) => `${f}(${name === '*' ? '*' : ident(name)})${as ? ` AS ${ident(as)}` : ''}`;

export class InfluxQL {
  #select: string[] = [];
  #from = '';
  #where: string[] = [];
  #groupBy: string[] = [];
  #fill: string | undefined;
  #order: string | undefined;
  #limit: number | undefined;
  #slimit: number | undefined;

  select(...exprs: string[]): this {
    this.#select.push(...exprs);
    return this;
  }
  /** A measurement name, a regex (`/^$kind$/`), or a subquery built by another InfluxQL. */
  from(m: string | InfluxQL): this {
    this.#from = m instanceof InfluxQL ? `(${m.build()})` : ident(m);
    return this;
  }
  /** tag =~ /^value$/ — value may be a Grafana variable (`$site`), kept as is inside the regex. */
  tagMatches(tag: string, value: string): this {
    this.#where.push(`${ident(tag)} =~ /^${value}$/`);
    return this;
  }
  /** field or tag compared with a literal. */
  where(name: string, op: '=' | '!=' | '<>' | '<' | '<=' | '>' | '>=', value: string | number | boolean): this {
    this.#where.push(`${ident(name)} ${op} ${literal(value)}`);
    return this;
  }
  /** Grafana's dashboard time range. */
  timeFilter(): this {
    this.#where.push('$timeFilter');
    return this;
  }
  groupByTime(interval = '$__interval'): this {
    this.#groupBy.push(`time(${interval})`);
    return this;
  }
  groupByTags(...tags: string[]): this {
    this.#groupBy.push(...tags.map(ident));
    return this;
  }
  fill(v: 'none' | 'null' | 'previous' | 'linear' | number): this {
    this.#fill = String(v);
    return this;
  }
  orderByTimeDesc(): this {
    this.#order = 'time DESC';
    return this;
  }
  limit(n: number): this {
    this.#limit = n;
    return this;
  }
  slimit(n: number): this {
    this.#slimit = n;
    return this;
  }
  build(): string {
    if (!this.#select.length || !this.#from) throw new Error('InfluxQL: select() and from() are required');
    let q = `SELECT ${this.#select.join(', ')} FROM ${this.#from}`;
    if (this.#where.length) q += ` WHERE ${this.#where.join(' AND ')}`;
    if (this.#groupBy.length) q += ` GROUP BY ${this.#groupBy.join(', ')}`;
    if (this.#fill) q += ` fill(${this.#fill})`;
    if (this.#order) q += ` ORDER BY ${this.#order}`;
    if (this.#limit !== undefined) q += ` LIMIT ${this.#limit}`;
    if (this.#slimit !== undefined) q += ` SLIMIT ${this.#slimit}`;
    return q;
  }
}

/** `SHOW TAG VALUES` for a template variable, optionally narrowed by another variable. */
export function showTagValues(key: string, where?: { tag: string; value: string }): string {
  return `SHOW TAG VALUES WITH KEY = ${ident(key)}${where ? ` WHERE ${ident(where.tag)} =~ /^${where.value}$/` : ''}`;
}

/** The target Grafana's InfluxDB datasource stores for a raw InfluxQL query. */
export interface InfluxDataquery extends cog.Dataquery {
  refId: string;
  datasource?: DataSourceRef;
  query: string;
  rawQuery: true;
  resultFormat: 'time_series' | 'table' | 'logs';
  alias?: string;
  hide?: boolean;
}

export class InfluxTarget implements cog.Builder<cog.Dataquery> {
  #q: InfluxDataquery;
  constructor(query: InfluxQL | string, datasource?: DataSourceRef) {
    this.#q = {
      refId: 'A',
      query: typeof query === 'string' ? query : query.build(),
      rawQuery: true,
      resultFormat: 'time_series',
      _implementsDataqueryVariant() {},
    };
    if (datasource) this.#q.datasource = datasource;
  }
  refId(id: string): this {
    this.#q.refId = id;
    return this;
  }
  format(f: InfluxDataquery['resultFormat']): this {
    this.#q.resultFormat = f;
    return this;
  }
  /** Series name: `$tag_device`, `$col`… */
  alias(a: string): this {
    this.#q.alias = a;
    return this;
  }
  build(): cog.Dataquery {
    return this.#q;
  }
}
