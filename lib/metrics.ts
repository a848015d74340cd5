// One Prometheus registry per process; each role registers its own counters on it and
// `GET /metrics` serves it. Roles get-or-create so that two instances in one process (tests,
// `testbed up`) share a metric instead of failing on a duplicate name.

import { Registry, Counter, Gauge, Histogram, collectDefaultMetrics } from 'prom-client';

export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'testbed_process_' });

type Cfg<L extends string> = { name: string; help: string; labelNames?: readonly L[] };

export function counter<L extends string = string>(cfg: Cfg<L>): Counter<L> {
  return (
    (registry.getSingleMetric(cfg.name) as Counter<L> | undefined) ??
    new Counter<L>({ ...cfg, labelNames: cfg.labelNames ?? [], registers: [registry] })
  );
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
