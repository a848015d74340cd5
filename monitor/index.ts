// monitor/: pilot monitoring — device and gateway health, data completeness per participant-day
// with loss accounting, alerts (rules, lifecycle, escalation; MQTT, SSE, webhooks), and site
// comparison with confidence intervals. See docs/monitoring.md.
//
// Wiring: subscribes as the `monitor` service account to every gateway's up, state and health
// topics (what ARRIVES is what counts), seeds last-seen from the readings store at start, reads
// the trial registry (participants, absences, assignments) from its database, keeps its own state
// in monitor.sqlite, publishes alerts on lab/v1/{site}/alerts, and adds its routes to the HTTP app.
//
// Alerts here serve a trial's evidence and its coordination. This is not a clinical alarm system.

import { hostname } from 'node:os';
import mqtt, { UniqueMessageIdProvider, type MqttClient } from 'mqtt';
import { checkBatch, checkHealth, checkState, parseTopic, type Reading, topics } from '../devices/index.ts';
import type { ReadingStore } from '../ingest/index.ts';
import { settledWithin, withTimeout } from '../lib/timeout.ts';
import { silentLogger, type Logger } from '../lib/log.ts';
import type { HttpPlugin } from '../http/index.ts';
import type { Database } from '../registry/index.ts';
import { AlertEngine, type AlertEvent } from './alerts.ts';
import { AlertRules } from './alert-rules.ts';
import { Periods } from './periods.ts';
import { monitorApi } from './routes/index.ts';
import { Completeness } from './completeness.ts';
import { MonitorDb } from './db.ts';
import { SseHub, Webhooks, eventBody } from './delivery.ts';
import { HealthTracker } from './health.ts';
import { Maintenance } from './maintenance.ts';
import { RegistryView } from './registry-view.ts';
import { DEFAULT_THRESHOLDS, ThresholdStore } from './thresholds.ts';

export { AlertEngine, type Alert, type AlertEvent, type AlertStatus } from './alerts.ts';
export { HealthTracker, reportingOf, type DeviceStatus, type GatewayStatus } from './health.ts';
export { Completeness, type ParticipantDay } from './completeness.ts';
export { compareSites, METHODS, type Comparison, type SiteMetrics } from './compare.ts';
export { wilson, meanT, poissonRate, pairedT, type Interval } from './stats.ts';
export { DEFAULT_THRESHOLDS, ThresholdStore, type Thresholds } from './thresholds.ts';
export { MonitorDb } from './db.ts';
export { RegistryView } from './registry-view.ts';
export { AlertRules } from './alert-rules.ts';
export { monitorApi, type MonitorApiDeps } from './routes/index.ts';
export { registerDemoTrial } from './demo-registry.ts';

export interface MonitorOptions {
  dataDir: string;
  /** Broker and the monitor service account. Omitted: no live subscription (feed with `observe`). */
  mqtt?: { url: string; username?: string | undefined; password?: string | undefined } | undefined;
  store: ReadingStore;
  /** The registry's database (participants, absences, assignments); null: no registry. */
  registryDb: Database | null;
  log?: Logger | undefined;
  clock?: (() => number) | undefined;
  /** Rule evaluation period (silence, no drink, wet, escalation). Default 1000 ms; 0: only on tick(). */
  tickMs?: number | undefined;
  /** Webhook URLs from configuration (added at start). */
  webhooks?: string[] | undefined;
  webhookMinBackoffMs?: number | undefined;
  utcOffsetMin?: number | undefined;
  registryPollMs?: number | undefined;
  /** Readings older than this on arrival open no alerts (AlertRules). */
  pastWindowMs?: number | undefined;
  /**
   * Readings come from ingest in this process (`observeReading`, wired to ingest's onAccepted), so
   * monitoring sees exactly what ingest takes — identity binding, device quota and dedupe applied
   * once — and the MQTT subscription takes only `state` and `health`. Default false: monitoring
   * subscribes to `up` itself and judges each batch with the contract's check.
   */
  readingsFromIngest?: boolean | undefined;
}

export interface MonitorHandle {
  engine: AlertEngine;
  health: HealthTracker;
  completeness: Completeness;
  view: RegistryView;
  webhooks: Webhooks;
  hub: SseHub;
  db: MonitorDb;
  maintenance: Maintenance;
  thresholds: ThresholdStore;
  /** Routes for the HTTP app (`plugins`). */
  plugin: HttpPlugin;
  /** Feeds one MQTT message as if it arrived (tests, replays). */
  observe(topic: string, payload: Buffer | string, arrival?: number): void;
  /** One reading ingest took (wired to ingest's onAccepted when `readingsFromIngest`). */
  observeReading(site: string, gateway: string, reading: Reading, arrival?: number): void;
  tick(now?: number): void;
  stats(): Record<string, unknown>;
  close(): Promise<void>;
}

export async function startMonitor(opts: MonitorOptions): Promise<MonitorHandle> {
  const log = opts.log ?? silentLogger;
  const clock = opts.clock ?? Date.now;
  const db = new MonitorDb(opts.dataDir);
  const view = new RegistryView(opts.registryDb);
  view.onError = (err) => log.warn({ err: String(err) }, 'registry read failed; monitoring keeps its last snapshot');
  await view.start(opts.registryPollMs ?? 2000);
  const utcOffsetMin = opts.utcOffsetMin ?? DEFAULT_THRESHOLDS.utcOffsetMin;
  const thresholds = new ThresholdStore(db, { ...DEFAULT_THRESHOLDS, utcOffsetMin });
  const maintenance = new Maintenance(db);
  const health = new HealthTracker(db);
  const hub = new SseHub();
  const webhooks = new Webhooks(db, log, { ...(opts.webhookMinBackoffMs !== undefined ? { minBackoffMs: opts.webhookMinBackoffMs } : {}) });
  for (const url of opts.webhooks ?? []) webhooks.add({ url }, 'config');
  let client: MqttClient | undefined;
  let published = 0;
  const deliver = (e: AlertEvent) => {
    hub.publish(e);
    client?.publish(topics.alerts(e.alert.site), eventBody(e), { qos: 1 }, (err) => {
      if (err) log.warn({ err: String(err), alert: e.alert.id }, 'alert not published on MQTT');
      else published++;
    });
    webhooks.enqueue(e);
  };
  const engine = new AlertEngine({ db, thresholds, view, clock, onEvent: deliver });
  const rules = new AlertRules({ engine, view, health, maintenance, pastWindowMs: opts.pastWindowMs });
  rules.onTickError = (what, err) =>
    log.error({ what, err: String(err) }, 'alert rules failed for one gateway or device; the others were judged');
  const completeness = new Completeness(opts.store, view, maintenance, db);
  const periods = new Periods(db);

  // Seed: last seen per device from the store; recent drinks and wetness for the rules.
  const now0 = clock();
  try {
    for (const d of await opts.store.lastSeen({ since: now0 - 3 * 86_400_000 }))
      health.observeReading(
        d.site,
        d.gateway,
        { dev: d.device, kind: d.kind, seq: d.seq, ts: d.ts, q: d.battery !== undefined ? { battery: d.battery } : {} },
        null,
      );
    for (const r of await opts.store.queryReadings({ kind: 'hydration', from: now0 - 86_400_000 }))
      if (typeof r.v.intake_ml === 'number' && r.v.intake_ml > 0)
        rules.lastDrink.set(
          `${r.site}/${r.gateway}/${r.device}`,
          Math.max(rules.lastDrink.get(`${r.site}/${r.gateway}/${r.device}`) ?? 0, r.ts),
        );
    for (const r of await opts.store.queryReadings({ kind: 'incontinence', from: now0 - 86_400_000 })) {
      const k = `${r.site}/${r.gateway}/${r.device}`;
      if (r.v.wet === true) rules.wetSince.set(k, rules.wetSince.get(k) ?? r.ts);
      else rules.wetSince.delete(k);
    }
  } catch (err) {
    log.warn({ err: String(err) }, 'could not seed monitoring from the store; starting from what arrives');
  }

  let readings = 0;
  /** Gateway messages that failed validation (ingest keeps them as dead letters). */
  let ignored = 0;
  const observeReading = (site: string, gateway: string, r: Reading, arrival = clock()) => {
    readings++;
    health.observeReading(site, gateway, r, arrival);
    rules.onReading(site, gateway, r);
  };

  const observe = (topic: string, payload: Buffer | string, arrival = clock()) => {
    const t = parseTopic(topic);
    if (!t) return;
    try {
      if (t.channel === 'up') {
        const c = checkBatch(payload, t.gateway, arrival);
        if (!c.ok) return;
        for (const r of c.accepted) observeReading(t.site, t.gateway, r, arrival);
      } else if (t.channel === 'state') {
        // Validated before use (devices/channels.ts): ingest dead-letters what fails, monitoring ignores it.
        const s = checkState(payload);
        if (s.ok) health.observeState(t.site, t.gateway, s.value, arrival);
        else ignored++;
      } else if (t.channel === 'health') {
        const h = checkHealth(payload);
        if (h.ok) health.observeHealth(t.site, t.gateway, h.value, arrival);
        else ignored++;
      }
    } catch (err) {
      log.debug({ topic, err: String(err) }, 'unreadable message ignored by monitoring');
    }
  };

  if (opts.mqtt) {
    const m = opts.mqtt;
    let lostAt: number | null = null;
    const c = mqtt.connect(m.url, {
      clientId: `testbed-monitor-${hostname()}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
      ...(m.username !== undefined ? { username: m.username } : {}),
      ...(m.password !== undefined ? { password: m.password } : {}),
      clean: true,
      resubscribe: false,
      reconnectPeriod: 1000,
      messageIdProvider: new UniqueMessageIdProvider(),
    });
    client = c;
    c.on('message', (topic, payload) => observe(topic, payload));
    c.on('error', (err) => log.warn({ err: err.message }, 'monitor mqtt error'));
    c.on('close', () => (lostAt ??= clock()));
    const filters = { [topics.allState]: { qos: 1 as const }, [topics.allHealth]: { qos: 0 as const } };
    if (!opts.readingsFromIngest) Object.assign(filters, { [topics.allUp]: { qos: 1 as const } });
    const subscribed = new Promise<void>((resolve, reject) => {
      c.on('connect', () => {
        c.subscribe(filters, (err, granted) => {
          if (err || granted?.some((g) => g.qos === 128))
            return reject(
              new Error(
                `monitor could not subscribe (${err?.message ?? 'refused by the broker: is the monitor service account enabled?'})`,
              ),
            );
          resolve();
          // After a reconnect: falls that arrived meanwhile are in the store (ingest kept working).
          // Readings handed over by ingest did not depend on this connection.
          if (lostAt !== null && opts.readingsFromIngest) lostAt = null;
          if (lostAt !== null) {
            const since = lostAt - 60_000;
            lostAt = null;
            void opts.store.queryReadings({ kind: 'fall', from: since }).then(
              (rows) => {
                for (const r of rows)
                  rules.onReading(r.site, r.gateway, { dev: r.device, kind: r.kind, seq: r.seq, ts: r.ts, v: r.v, q: r.q });
              },
              (e: unknown) => log.warn({ err: String(e) }, 'catch-up of falls from the store failed'),
            );
          }
        });
      });
    });
    try {
      await withTimeout(subscribed, 30_000, `monitor could not subscribe at ${m.url} within 30 s`);
    } catch (err) {
      await c.endAsync(true).catch(() => undefined);
      view.stop();
      db.close();
      throw err;
    }
    log.info(
      { url: m.url, readingsFromIngest: Boolean(opts.readingsFromIngest) },
      `monitor subscribed to ${Object.keys(filters).join(', ')}`,
    );
  }

  webhooks.start();
  const tickMs = opts.tickMs ?? 1000;
  const tick = (now?: number) => {
    try {
      rules.tick(now ?? clock());
    } catch (err) {
      log.error({ err: String(err) }, 'monitor tick failed');
    }
  };
  const timer = tickMs > 0 ? setInterval(() => tick(), tickMs) : undefined;
  timer?.unref();

  let closed = false;
  return {
    engine,
    health,
    completeness,
    view,
    webhooks,
    hub,
    db,
    maintenance,
    thresholds,
    plugin: monitorApi({ engine, health, completeness, view, maintenance, thresholds, periods, webhooks, hub, clock, utcOffsetMin }),
    observe,
    observeReading,
    tick,
    stats: () => ({
      devices: health.devices.size,
      gateways: health.gateways.size,
      readings,
      ignored,
      tickErrors: rules.tickErrors,
      sseClients: hub.size,
      mqttPublished: published,
      webhooksDelivered: webhooks.delivered,
      webhooksPending: webhooks.pending(),
      connected: client?.connected ?? null,
    }),
    close: async () => {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      view.stop();
      webhooks.close();
      if (client) {
        await settledWithin(client.endAsync(false), 2000);
        if (!client.disconnected) await client.endAsync(true).catch(() => undefined);
      }
      db.close();
    },
  };
}
