// One Prometheus registry per process; each role registers its own metrics on it and
// `GET /metrics` serves it. Roles get-or-create so that two instances in one process (tests,
// `testbed up`) share a metric instead of failing on a duplicate name.
//
// What is served passes `promtool check metrics` (test/ops/metrics.test.ts): counters end in
// `_total`, nothing else does, units are in the names (`_seconds`, `_bytes`), every metric has
// HELP, and a labelled counter starts at 0 for each label value it can take, so that `rate()` and
// `increase()` see the first event instead of a series appearing out of nowhere.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const registry = new Registry();

// The standard names (`process_cpu_seconds_total`, `process_resident_memory_bytes`,
// `nodejs_heap_size_used_bytes`…), unprefixed, so that stock dashboards and alerts find them.
collectDefaultMetrics({ register: registry });
// prom-client also exports these three gauges, each the sum of a gauge it already exports by type
// (`nodejs_active_handles{type}`…). A gauge named `_total` reads as a counter, and promtool refuses
// it ("non-counter metrics should not have _total suffix"); `sum(nodejs_active_handles)` gives
// the same number.
for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'])
  registry.removeSingleMetric(name);

type Cfg<L extends string> = { name: string; help: string; labelNames?: readonly L[] };

/** The label values a counter can take, by label: each combination starts at 0. */
export type KnownLabelValues<L extends string> = { [K in L]: readonly string[] };

/**
 * Every member of a union of strings, from a record keyed by it: `everyValue<RefusalReason>({
 * rate_limited: true, … })`. The compiler refuses a record that misses a member or adds one, so
 * the list of label values cannot drift from the type.
 */
export function everyValue<T extends string>(members: Record<T, true>): T[] {
  return Object.keys(members) as T[];
}

/** Every combination of the known label values: {a: [1, 2], b: [x]} → [{a: 1, b: x}, {a: 2, b: x}]. */
function labelCombinations<L extends string>(known: KnownLabelValues<L>): Record<L, string>[] {
  let combinations: Record<string, string>[] = [{}];
  for (const [label, values] of Object.entries(known) as [string, readonly string[]][])
    combinations = combinations.flatMap((c) => values.map((v) => ({ ...c, [label]: v })));
  return combinations as Record<L, string>[];
}

export function counter<L extends string = string>(cfg: Cfg<L> & { known?: KnownLabelValues<L> }): Counter<L> {
  const existing = registry.getSingleMetric(cfg.name) as Counter<L> | undefined;
  if (existing) return existing;
  const { known, ...rest } = cfg;
  const created = new Counter<L>({ ...rest, labelNames: cfg.labelNames ?? [], registers: [registry] });
  for (const labels of known ? labelCombinations(known) : []) created.inc(labels, 0);
  return created;
}

export function gauge<L extends string = string>(cfg: Cfg<L>): Gauge<L> {
  return (
    (registry.getSingleMetric(cfg.name) as Gauge<L> | undefined) ??
    new Gauge<L>({ ...cfg, labelNames: cfg.labelNames ?? [], registers: [registry] })
  );
}

export function histogram<L extends string = string>(cfg: Cfg<L> & { buckets?: number[] }): Histogram<L> {
  return (
    (registry.getSingleMetric(cfg.name) as Histogram<L> | undefined) ??
    new Histogram<L>({ ...cfg, labelNames: cfg.labelNames ?? [], registers: [registry] })
  );
}
