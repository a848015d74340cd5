// What monitoring's routes are given: the monitor's parts, built by startMonitor (monitor/index.ts).

import type { FastifyRequest } from 'fastify';
import { actorOf } from '../../http/index.ts';
import type { AlertEngine } from '../alerts.ts';
import type { Completeness } from '../completeness.ts';
import type { SseHub, Webhooks } from '../delivery.ts';
import type { HealthTracker } from '../health.ts';
import type { Maintenance } from '../maintenance.ts';
import type { Periods } from '../periods.ts';
import type { Access, RegistryView } from '../registry-view.ts';
import type { ThresholdStore } from '../thresholds.ts';

export interface MonitorApiDeps {
  engine: AlertEngine;
  health: HealthTracker;
  completeness: Completeness;
  view: RegistryView;
  maintenance: Maintenance;
  thresholds: ThresholdStore;
  periods: Periods;
  webhooks: Webhooks;
  hub: SseHub;
  clock: () => number;
  /** The local day boundary when a query names none. */
  utcOffsetMin: number;
}

/** What the caller of an authenticated route may see. */
export function accessOf(d: MonitorApiDeps, req: FastifyRequest): Access {
  return d.view.access(actorOf(req));
}
