// The one reader of Prometheus metrics for tests and benches: a parser of the text exposition
// format (https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format), and
// sums over a metric's series, read from a running process's /metrics or from this process's
// registry. prom-client writes the format but does not read it, and no parser is among our
// dependencies; the format is small enough to read exactly here (escapes in label values,
// NaN and ±Inf, optional timestamps).

import { registry } from '../../lib/metrics.ts';

export interface Sample {
  /** The sample's own name: a histogram's series are `x_bucket`, `x_sum` and `x_count`. */
  name: string;
  labels: Record<string, string>;
  value: number;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;

/** Go's ParseFloat, as Prometheus reads values: decimals, exponents, NaN and ±Inf in any case. */
function parseValue(text: string, line: string): number {
  const lower = text.toLowerCase();
  if (lower === 'nan') return Number.NaN;
  if (lower === '+inf' || lower === 'inf') return Number.POSITIVE_INFINITY;
  if (lower === '-inf') return Number.NEGATIVE_INFINITY;
  const value = Number(text);
  if (text === '' || Number.isNaN(value)) throw new Error(`not a sample value: '${text}' in: ${line}`);
  return value;
}

/** Reads `{a="x",b="y\"z"}` from the start of `rest`; returns the labels and what follows. */
function parseLabels(rest: string, line: string): { labels: Record<string, string>; after: string } {
  const labels: Record<string, string> = {};
  let i = 1; // past '{'
  for (;;) {
    while (rest[i] === ' ') i++;
    if (rest[i] === '}') return { labels, after: rest.slice(i + 1) };
    const name = LABEL_NAME.exec(rest.slice(i))?.[0];
    if (!name || rest[i + name.length] !== '=' || rest[i + name.length + 1] !== '"') throw new Error(`bad label in: ${line}`);
    i += name.length + 2;
    let value = '';
    for (; rest[i] !== '"'; i++) {
      if (i >= rest.length) throw new Error(`unterminated label value in: ${line}`);
      if (rest[i] !== '\\') {
        value += rest[i];
        continue;
      }
      const escaped = rest[++i];
      value += escaped === 'n' ? '\n' : escaped === '\\' || escaped === '"' ? escaped : `\\${escaped}`;
    }
    labels[name] = value;
    i++; // past the closing quote
    while (rest[i] === ' ') i++;
    if (rest[i] === ',') i++;
    else if (rest[i] !== '}') throw new Error(`expected ',' or '}' in: ${line}`);
  }
}

/** Every sample in a text exposition; HELP, TYPE and other comments are skipped. Throws on a malformed line. */
export function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const name = NAME.exec(line)?.[0];
    if (!name) throw new Error(`no metric name at the start of: ${line}`);
    let rest = line.slice(name.length);
    let labels: Record<string, string> = {};
    if (rest.startsWith('{')) ({ labels, after: rest } = parseLabels(rest, line));
    const [value, timestamp, extra] = rest.trim().split(/\s+/);
    if (extra !== undefined || (timestamp !== undefined && !/^-?\d+$/.test(timestamp))) throw new Error(`bad sample: ${line}`);
    samples.push({ name, labels, value: parseValue(value ?? '', line) });
  }
  return samples;
}

/**
 * The sum of the samples named `name` whose labels include `labels` (all series when none are
 * given). Throws when no sample has that name: a misspelt or unexported metric is a failure, not 0.
 */
export function metricSum(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number {
  const named = samples.filter((s) => s.name === name);
  if (named.length === 0) throw new Error(`no metric ${name} among the ${samples.length} samples`);
  return named.filter((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((sum, s) => sum + s.value, 0);
}

/** The text a running process serves on `/metrics`. */
export async function scrapeMetrics(httpUrl: string): Promise<string> {
  const res = await fetch(`${httpUrl}/metrics`);
  if (!res.ok) throw new Error(`GET ${httpUrl}/metrics: HTTP ${res.status}`);
  return res.text();
}

/** {@link metricSum} over what a running process (`testbed up`, `testbed ingest`…) serves on `/metrics`. */
export async function scrapedMetricSum(httpUrl: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  return metricSum(parseMetrics(await scrapeMetrics(httpUrl)), name, labels);
}

/** {@link metricSum} over this process's registry, for tests that run the roles in-process. */
export async function localMetricSum(name: string, labels: Record<string, string> = {}): Promise<number> {
  return metricSum(parseMetrics(await registry.metrics()), name, labels);
}
