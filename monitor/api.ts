// Monitoring routes under /api/v1, in the same OpenAPI document as the registry's. Every route
// takes a bearer token, checked by `authorize` (by default the registry's own token check), and
// names the roles that may call it; what a role sees is then narrowed like the registry does
// (coordinator: their organisation's trials' sites; company: its own devices and gateways, no
// participant data; researcher: consented participants only, read-only).

import type { FastifyReply, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { actorOf, type HttpPlugin } from '../http/index.ts';
import { errorResponses } from '../http/errors.ts';
import { Nullable, Ts } from '../http/schemas.ts';
import type { Role } from '../registry/index.ts';
import type { Alert, AlertEngine } from './alerts.ts';
import { ApiError } from '../lib/errors.ts';
import { compareSites } from './compare.ts';
import type { Completeness } from './completeness.ts';
import { eventBody, type SseHub, type Webhooks } from './delivery.ts';
import { reportingOf, type HealthTracker } from './health.ts';
import type { Maintenance } from './maintenance.ts';
import type { MonitorDb } from './db.ts';
import type { Access, RegistryView } from './registry-view.ts';
import { RULES, type ThresholdStore } from './thresholds.ts';

export interface MonitorApiDeps {
  engine: AlertEngine;
  health: HealthTracker;
  completeness: Completeness;
  view: RegistryView;
  maintenance: Maintenance;
  thresholds: ThresholdStore;
  webhooks: Webhooks;
  hub: SseHub;
  db: MonitorDb;
  clock: () => number;
  utcOffsetMin: number;
}

const ADMIN_COORD: readonly Role[] = ['admin', 'coordinator'];
const HEALTH_ROLES: readonly Role[] = ['admin', 'coordinator', 'company'];
const DATA_ROLES: readonly Role[] = ['admin', 'coordinator', 'researcher'];
const COMPARE_ROLES: readonly Role[] = ['admin', 'coordinator', 'researcher', 'company'];

const Loose = (description: string) => Type.Object({}, { additionalProperties: true, description });
const AlertT = Type.Object({
  id: Type.String(),
  key: Type.String(),
  rule: Type.String(),
  severity: Type.String(),
  status: Type.String(),
  site: Type.String(),
  gateway: Nullable(Type.String()),
  device: Nullable(Type.String()),
  home: Nullable(Type.String()),
  participant: Nullable(Type.String()),
  message: Type.String(),
  openedAt: Type.Integer(),
  measuredAt: Type.Integer(),
  acknowledgedAt: Nullable(Type.Integer()),
  acknowledgedBy: Nullable(Type.String()),
  escalatedAt: Nullable(Type.Integer()),
  escalations: Type.Integer(),
  resolvedAt: Nullable(Type.Integer()),
  resolvedBy: Nullable(Type.String()),
  label: Nullable(Type.String()),
  labelledBy: Nullable(Type.String()),
  labelledAt: Nullable(Type.Integer()),
  note: Nullable(Type.String()),
  details: Type.Record(Type.String(), Type.Unknown()),
});
const DeviceT = Type.Object({
  site: Type.String(),
  gateway: Type.String(),
  device: Type.String(),
  kind: Type.String(),
  status: Type.String({ description: 'ok | late | silent | battery-low' }),
  lastSeen: Type.Integer({ description: 'When its newest reading was measured (clamped to arrival), epoch ms' }),
  lastArrival: Nullable(Type.Integer()),
  ageS: Type.Number(),
  lateAfterS: Type.Integer(),
  silentAfterS: Type.Integer(),
  battery: Nullable(Type.Number()),
  home: Nullable(Type.String()),
  participant: Nullable(Type.String()),
  cause: Nullable(Type.String()),
  reason: Nullable(Type.String()),
  suppressed: Nullable(Type.String()),
});
const GatewayT = Type.Object({
  site: Type.String(),
  gateway: Type.String(),
  status: Type.String({ description: 'online | offline | degraded | unknown' }),
  reasons: Type.Array(Type.String()),
  since: Nullable(Type.Integer()),
  lastUpAt: Nullable(Type.Integer()),
  lastHealthAt: Nullable(Type.Integer()),
  outboxDepth: Nullable(Type.Integer()),
  outboxOldestAgeS: Nullable(Type.Number()),
  adapter: Nullable(Type.String()),
  suppressed: Nullable(Type.String()),
});
const errors = errorResponses(400, 404, 409);
const Window = Type.Object({ from: Type.Integer({ minimum: 0 }), to: Type.Integer({ minimum: 0 }) }, { additionalProperties: false });
const ThresholdPatchT = Type.Object(
  {
    rules: Type.Optional(Type.Array(Type.Enum([...RULES]))),
    noDrinkHours: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 24 })),
    daytimeFrom: Type.Optional(Type.String({ pattern: '^\\d\\d:\\d\\d$' })),
    daytimeTo: Type.Optional(Type.String({ pattern: '^\\d\\d:\\d\\d$' })),
    wetMinutes: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
    gatewayOfflineMinutes: Type.Optional(Type.Number({ minimum: 0 })),
    batteryLowPct: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })),
    escalateMinutes: Type.Optional(
      Type.Object(
        {
          critical: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
          warning: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
          info: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
        },
        { additionalProperties: false },
      ),
    ),
    utcOffsetMin: Type.Optional(Type.Integer({ minimum: -720, maximum: 840 })),
  },
  { additionalProperties: false },
);

export function monitorApi(d: MonitorApiDeps): HttpPlugin {
  return async (app) => {
    const streams = new Set<FastifyReply>();
    app.addHook('preClose', async () => {
      for (const r of streams) r.raw.end();
      streams.clear();
    });
    await app.register(
      async (inner) => {
        const api = inner.withTypeProvider<TypeBoxTypeProvider>();
        const access = (req: FastifyRequest): Access => d.view.access(actorOf(req));
        const doc = (summary: string, _roles: readonly Role[], tag: string, extra: Record<string, unknown> = {}) => ({
          summary,
          tags: [tag],
          ...extra,
        });
        const cfg = (roles: readonly Role[]) => ({ config: { roles } });
        const siteAllowed = (req: FastifyRequest, site: string) => {
          const a = access(req);
          if (a.sites && !a.sites.has(site)) throw new ApiError(403, `site '${site}' is outside your organisation's trials`);
        };
        const period = (q: { from?: number | undefined; to?: number | undefined }, days = 7) => {
          const to = q.to ?? d.clock();
          const from = q.from ?? to - days * 86_400_000;
          if (to <= from) throw new ApiError(400, '`to` must be after `from`');
          if (to - from > 400 * 86_400_000) throw new ApiError(400, 'at most 400 days at once');
          return { from, to };
        };

        // ── health ──
        api.get(
          '/monitor/devices',
          {
            ...cfg(HEALTH_ROLES),
            schema: {
              ...doc(
                'Every device heard from: ok, late, silent or battery-low, judged from what arrives against its kind’s expected reporting, with the likely cause of a silence',
                HEALTH_ROLES,
                'monitoring',
              ),
              querystring: Type.Object({
                site: Type.Optional(Type.String()),
                status: Type.Optional(Type.Enum(['ok', 'late', 'silent', 'battery-low', 'problem'])),
              }),
              response: { 200: Type.Object({ at: Type.Integer(), devices: Type.Array(DeviceT) }), ...errors },
            },
          },
          async (req) => {
            const a = access(req);
            const now = d.clock();
            const snap = d.view.snapshot;
            const out = [];
            for (const dev of d.health.devices.values()) {
              if (req.query.site && dev.site !== req.query.site) continue;
              if (a.sites && !a.sites.has(dev.site)) continue;
              if (a.org !== null && snap.deviceOrg.get(dev.device) !== a.org && snap.gatewayOrg.get(`${dev.site}/${dev.gateway}`) !== a.org)
                continue;
              const t = d.engine.thresholdsFor(dev.site);
              const st = d.health.deviceStatus(dev, now, t.batteryLowPct);
              if (req.query.status === 'problem' ? st.status === 'ok' : req.query.status && st.status !== req.query.status) continue;
              const who = d.view.attribute(dev.device, now);
              const m = d.maintenance.active(dev.site, dev.gateway, dev.device, now);
              const absent = d.view.absentAt(who?.participant ?? null, who?.home ?? null, now);
              const r = reportingOf(dev.kind);
              out.push({
                site: dev.site,
                gateway: dev.gateway,
                device: dev.device,
                kind: dev.kind,
                status: st.status,
                lastSeen: dev.lastTs,
                lastArrival: dev.lastArrival,
                ageS: Math.round(st.ageS),
                lateAfterS: r.lateAfterS,
                silentAfterS: r.silentAfterS,
                battery: dev.battery,
                home: who?.home ?? null,
                participant: a.participants ? (who?.participant ?? null) : null,
                cause: st.cause,
                reason: st.reason,
                suppressed: m ? `maintenance${m.reason ? `: ${m.reason}` : ''}` : absent ? `participant absent (${absent.reason})` : null,
              });
            }
            out.sort((x, y) => x.site.localeCompare(y.site) || x.gateway.localeCompare(y.gateway) || x.device.localeCompare(y.device));
            return { at: now, devices: out };
          },
        );

        api.get(
          '/monitor/gateways',
          {
            ...cfg(HEALTH_ROLES),
            schema: {
              ...doc(
                'Every gateway: online, offline or degraded (outbox growing, adapter down), from its state and health topics',
                HEALTH_ROLES,
                'monitoring',
              ),
              querystring: Type.Object({ site: Type.Optional(Type.String()) }),
              response: { 200: Type.Object({ at: Type.Integer(), gateways: Type.Array(GatewayT) }), ...errors },
            },
          },
          async (req) => {
            const a = access(req);
            const now = d.clock();
            const out = [];
            for (const g of d.health.gateways.values()) {
              if (req.query.site && g.site !== req.query.site) continue;
              if (a.sites && !a.sites.has(g.site)) continue;
              if (a.org !== null && d.view.snapshot.gatewayOrg.get(`${g.site}/${g.gateway}`) !== a.org) continue;
              const m = d.maintenance.active(g.site, g.gateway, null, now);
              out.push({ ...d.health.gatewayView(g, now), suppressed: m ? `maintenance${m.reason ? `: ${m.reason}` : ''}` : null });
            }
            out.sort((x, y) => x.site.localeCompare(y.site) || x.gateway.localeCompare(y.gateway));
            return { at: now, gateways: out };
          },
        );

        // ── completeness ──
        api.get(
          '/monitor/completeness',
          {
            ...cfg(DATA_ROLES),
            schema: {
              ...doc(
                'Expected versus received reporting slots per participant-day, with loss from seq gaps and why data is missing (absent, maintenance, gateway offline, device silent, lost in transit)',
                DATA_ROLES,
                'monitoring',
              ),
              querystring: Type.Object({
                from: Type.Optional(Ts('Start; default 7 days before `to`')),
                to: Type.Optional(Ts('End (exclusive); default now')),
                site: Type.Optional(Type.String()),
                trial: Type.Optional(Type.String()),
                participant: Type.Optional(Type.String()),
                detail: Type.Optional(Type.Boolean({ default: false, description: 'Include every device-day' })),
                utcOffsetMin: Type.Optional(
                  Type.Integer({ minimum: -720, maximum: 840, description: 'Local day boundary; default the configured offset' }),
                ),
              }),
              response: {
                200: Loose(
                  '{ from, to, summary: { participantDays, expectedSlots, coveredSlots, completeness, lost }, days: [participant-day] }',
                ),
                ...errors,
              },
            },
          },
          async (req) => {
            const { from, to } = period(req.query);
            if (req.query.site) siteAllowed(req, req.query.site);
            const days = await d.completeness.participantDays(
              {
                from,
                to,
                site: req.query.site,
                trial: req.query.trial,
                participant: req.query.participant,
                utcOffsetMin: req.query.utcOffsetMin ?? d.utcOffsetMin,
                now: d.clock(),
              },
              access(req),
            );
            const exp = days.reduce((a, x) => a + x.expectedSlots, 0);
            const cov = days.reduce((a, x) => a + x.coveredSlots, 0);
            return {
              from,
              to,
              summary: {
                participantDays: days.length,
                expectedSlots: exp,
                coveredSlots: cov,
                completeness: exp ? cov / exp : null,
                received: days.reduce((a, x) => a + x.received, 0),
                lost: days.reduce((a, x) => a + x.lost, 0),
              },
              days: days.map((x) =>
                req.query.detail ? x : { ...x, devices: x.devices.filter((v) => v.cause !== 'complete' || v.lost > 0) },
              ),
            };
          },
        );

        api.get(
          '/monitor/loss',
          {
            ...cfg(HEALTH_ROLES),
            schema: {
              ...doc(
                'Loss accounting per device: readings numbered by the gateway (seq span), stored, and lost in transit, per day',
                HEALTH_ROLES,
                'monitoring',
              ),
              querystring: Type.Object({
                from: Type.Optional(Ts('Start')),
                to: Type.Optional(Ts('End')),
                site: Type.Optional(Type.String()),
                utcOffsetMin: Type.Optional(Type.Integer({ minimum: -720, maximum: 840 })),
              }),
              response: {
                200: Loose('{ from, to, devices: [{ site, gateway, device, kind, received, lost, firstSeq, lastSeq, days }] }'),
                ...errors,
              },
            },
          },
          async (req) => {
            const { from, to } = period(req.query);
            return {
              from,
              to,
              devices: await d.completeness.loss(
                { from, to, site: req.query.site, utcOffsetMin: req.query.utcOffsetMin ?? d.utcOffsetMin, now: d.clock() },
                access(req),
              ),
            };
          },
        );

        // ── comparison ──
        api.get(
          '/monitor/compare',
          {
            ...cfg(COMPARE_ROLES),
            schema: {
              ...doc(
                'Sites compared over a period — completeness, device uptime, alerts per participant-week, false-alarm rate, daily fluid intake, night-time toilet visits, time in bed — with 95% confidence intervals; and baseline versus intervention (from the trial’s periods, or given here)',
                COMPARE_ROLES,
                'monitoring',
              ),
              querystring: Type.Object({
                from: Type.Optional(Ts('Start; default 28 days before `to`')),
                to: Type.Optional(Ts('End; default now')),
                trial: Type.Optional(Type.String()),
                sites: Type.Optional(Type.String({ description: 'Comma-separated site ids' })),
                baselineFrom: Type.Optional(Ts('Baseline start')),
                baselineTo: Type.Optional(Ts('Baseline end')),
                interventionFrom: Type.Optional(Ts('Intervention start')),
                interventionTo: Type.Optional(Ts('Intervention end')),
                utcOffsetMin: Type.Optional(Type.Integer({ minimum: -720, maximum: 840 })),
              }),
              response: { 200: Loose('{ from, to, methods, sites: [SiteMetrics], baselineVsIntervention? }'), ...errors },
            },
          },
          async (req) => {
            const q = req.query;
            const { from, to } = period(q, 28);
            let baseline =
              q.baselineFrom !== undefined && q.baselineTo !== undefined ? { from: q.baselineFrom, to: q.baselineTo } : undefined;
            let intervention =
              q.interventionFrom !== undefined && q.interventionTo !== undefined
                ? { from: q.interventionFrom, to: q.interventionTo }
                : undefined;
            if (q.trial && !baseline) {
              const p = d.db.db.prepare('SELECT * FROM periods WHERE trial_id = ?').get(q.trial) as Record<string, number> | undefined;
              if (p)
                (baseline = { from: Number(p.baseline_from), to: Number(p.baseline_to) }),
                  (intervention = { from: Number(p.intervention_from), to: Number(p.intervention_to) });
            }
            const a = access(req);
            // Company: aggregates only (no participant ids leave), over every site.
            return compareSites(
              d.completeness,
              d.engine,
              {
                from,
                to,
                trial: q.trial,
                sites: q.sites?.split(',').filter(Boolean),
                baseline,
                intervention,
                utcOffsetMin: q.utcOffsetMin ?? d.utcOffsetMin,
                now: d.clock(),
              },
              a.org !== null ? { ...a, org: null } : a,
            );
          },
        );

        api.get(
          '/monitor/periods/:trial',
          {
            ...cfg(COMPARE_ROLES),
            schema: {
              ...doc('Baseline and intervention periods of a trial', COMPARE_ROLES, 'monitoring'),
              params: Type.Object({ trial: Type.String() }),
              response: { 200: Type.Object({ trial: Type.String(), baseline: Window, intervention: Window }), ...errors },
            },
          },
          async (req) => {
            const p = d.db.db.prepare('SELECT * FROM periods WHERE trial_id = ?').get(req.params.trial) as
              | Record<string, number>
              | undefined;
            if (!p) throw new ApiError(404, `no periods set for trial '${req.params.trial}'`);
            return {
              trial: req.params.trial,
              baseline: { from: Number(p.baseline_from), to: Number(p.baseline_to) },
              intervention: { from: Number(p.intervention_from), to: Number(p.intervention_to) },
            };
          },
        );
        api.put(
          '/monitor/periods/:trial',
          {
            ...cfg(ADMIN_COORD),
            schema: {
              ...doc('Set the baseline and intervention periods of a trial (for comparison)', ADMIN_COORD, 'monitoring'),
              params: Type.Object({ trial: Type.String() }),
              body: Type.Object({ baseline: Window, intervention: Window }, { additionalProperties: false }),
              response: { 200: Type.Object({ trial: Type.String(), baseline: Window, intervention: Window }), ...errors },
            },
          },
          async (req) => {
            const { baseline: b, intervention: i } = req.body;
            if (b.to <= b.from || i.to <= i.from) throw new ApiError(400, 'each period needs to > from');
            const t = d.view.snapshot.trials.find((x) => x.id === req.params.trial);
            const a = access(req);
            if (a.sites && (!t || t.orgId !== a.actor.orgId))
              throw new ApiError(403, `trial '${req.params.trial}' is not one of your organisation's trials`);
            d.db.db
              .prepare(
                'INSERT INTO periods (trial_id, baseline_from, baseline_to, intervention_from, intervention_to, updated_by, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (trial_id) DO UPDATE SET baseline_from = excluded.baseline_from, baseline_to = excluded.baseline_to, intervention_from = excluded.intervention_from, intervention_to = excluded.intervention_to, updated_by = excluded.updated_by, updated_at = excluded.updated_at',
              )
              .run(req.params.trial, b.from, b.to, i.from, i.to, a.actor.id, Date.now());
            return { trial: req.params.trial, baseline: b, intervention: i };
          },
        );

        // ── thresholds, maintenance ──
        api.get(
          '/monitor/thresholds',
          {
            ...cfg(ADMIN_COORD),
            schema: {
              ...doc(
                'Alert thresholds: defaults, overrides per scope (default, trial:<id>, site:<id>), and the effective values for a site',
                ADMIN_COORD,
                'alerts',
              ),
              querystring: Type.Object({ site: Type.Optional(Type.String()) }),
              response: { 200: Loose('{ defaults, scopes, effective? }'), ...errors },
            },
          },
          async (req) => ({
            defaults: d.thresholds.defaults,
            scopes: d.thresholds.scopes(),
            ...(req.query.site ? { effective: d.engine.thresholdsFor(req.query.site) } : {}),
          }),
        );
        api.put(
          '/monitor/thresholds/:scope',
          {
            ...cfg(ADMIN_COORD),
            schema: {
              ...doc(
                'Override thresholds for a scope: `default`, `trial:<id>` or `site:<id>` (site wins over trial, trial over default)',
                ADMIN_COORD,
                'alerts',
              ),
              params: Type.Object({
                scope: Type.String({ pattern: '^(default|trial:[a-z0-9][a-z0-9-]{0,62}|site:[a-z0-9][a-z0-9-]{0,62})$' }),
              }),
              body: ThresholdPatchT,
              response: { 200: Loose('{ scope, thresholds }'), ...errors },
            },
          },
          async (req) => {
            const a = access(req);
            const scope = req.params.scope;
            if (a.sites) {
              if (scope === 'default') throw new ApiError(403, 'only an admin may change the default thresholds');
              if (scope.startsWith('site:')) siteAllowed(req, scope.slice(5));
              if (scope.startsWith('trial:') && d.view.snapshot.trials.find((t) => t.id === scope.slice(6))?.orgId !== a.actor.orgId)
                throw new ApiError(403, `trial '${scope.slice(6)}' is not one of your organisation's trials`);
            }
            d.thresholds.set(scope, req.body, a.actor.id);
            return { scope, thresholds: req.body };
          },
        );

        const MaintT = Type.Object({
          id: Type.Integer(),
          site: Type.String(),
          gateway: Nullable(Type.String()),
          device: Nullable(Type.String()),
          from: Type.Integer(),
          to: Type.Integer(),
          reason: Nullable(Type.String()),
          createdBy: Nullable(Type.String()),
          createdAt: Type.Integer(),
        });
        api.get(
          '/monitor/maintenance',
          {
            ...cfg(HEALTH_ROLES),
            schema: {
              ...doc('Maintenance windows (alarms suppressed, data not expected)', HEALTH_ROLES, 'monitoring'),
              querystring: Type.Object({ site: Type.Optional(Type.String()) }),
              response: { 200: Type.Array(MaintT), ...errors },
            },
          },
          async (req) => {
            const a = access(req);
            return d.maintenance.list(req.query.site).filter((w) => !a.sites || a.sites.has(w.site));
          },
        );
        api.post(
          '/monitor/maintenance',
          {
            ...cfg(ADMIN_COORD),
            schema: {
              ...doc('Open a maintenance window for a site, a gateway or a device', ADMIN_COORD, 'monitoring'),
              body: Type.Object(
                {
                  site: Type.String(),
                  gateway: Type.Optional(Type.String()),
                  device: Type.Optional(Type.String()),
                  from: Type.Integer({ minimum: 0 }),
                  to: Type.Integer({ minimum: 0 }),
                  reason: Type.Optional(Type.String({ maxLength: 500 })),
                },
                { additionalProperties: false },
              ),
              response: { 201: MaintT, ...errors },
            },
          },
          async (req, reply) => {
            siteAllowed(req, req.body.site);
            if (req.body.to <= req.body.from) throw new ApiError(400, '`to` must be after `from`');
            return reply.code(201).send(d.maintenance.add(req.body, access(req).actor.id));
          },
        );
        api.delete(
          '/monitor/maintenance/:id',
          {
            ...cfg(ADMIN_COORD),
            schema: {
              ...doc('Remove a maintenance window', ADMIN_COORD, 'monitoring'),
              params: Type.Object({ id: Type.Integer() }),
              response: { 204: Type.Null(), ...errors },
            },
          },
          async (req, reply) => {
            const w = d.maintenance.get(req.params.id);
            if (!w) throw new ApiError(404, `maintenance window ${req.params.id} does not exist`);
            siteAllowed(req, w.site);
            d.maintenance.remove(req.params.id);
            return reply.code(204).send(null);
          },
        );

        // ── alerts ──
        const visible = (req: FastifyRequest, a: Alert) => {
          const acc = access(req);
          if (acc.sites && !acc.sites.has(a.site))
            throw new ApiError(403, `alert '${a.id}' belongs to site '${a.site}', outside your organisation's trials`);
          return a;
        };
        api.get(
          '/alerts',
          {
            ...cfg(ADMIN_COORD),
            schema: {
              ...doc('Alerts, newest first', ADMIN_COORD, 'alerts'),
              querystring: Type.Object({
                status: Type.Optional(Type.Enum(['open', 'acknowledged', 'resolved', 'active'])),
                site: Type.Optional(Type.String()),
                rule: Type.Optional(Type.Enum([...RULES])),
                participant: Type.Optional(Type.String()),
                since: Type.Optional(Ts('Opened at or after')),
                limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, default: 500 })),
              }),
              response: { 200: Type.Array(AlertT), ...errors },
            },
          },
          async (req) => d.engine.list({ ...req.query, sites: access(req).sites }),
        );

        api.get(
          '/alerts/stream',
          {
            ...cfg(ADMIN_COORD),
            schema: {
              ...doc(
                'Alert events as server-sent events (event: opened | acknowledged | escalated | resolved | labelled; data: {event, alert}); resumes after `Last-Event-ID`',
                ADMIN_COORD,
                'alerts',
              ),
              querystring: Type.Object({ site: Type.Optional(Type.String()) }),
              produces: ['text/event-stream'],
            },
          },
          async (req, reply) => {
            const acc = access(req);
            const site = req.query.site;
            const want = (s: string) => (!site || s === site) && (!acc.sites || acc.sites.has(s));
            reply.hijack();
            const res = reply.raw;
            res.writeHead(200, {
              'content-type': 'text/event-stream; charset=utf-8',
              'cache-control': 'no-cache, no-transform',
              connection: 'keep-alive',
              'x-accel-buffering': 'no',
            });
            res.write('retry: 2000\n\n');
            const send = (e: Parameters<Parameters<SseHub['subscribe']>[0]>[0]) => {
              if (want(e.alert.site)) res.write(`id: ${e.id}\nevent: ${e.type}\ndata: ${eventBody(e)}\n\n`);
            };
            const last = Number(req.headers['last-event-id']);
            if (Number.isSafeInteger(last) && last >= 0) for (const e of d.engine.eventsAfter(last)) send(e);
            const unsubscribe = d.hub.subscribe(send);
            const ping = setInterval(() => res.write(': ping\n\n'), 15_000);
            streams.add(reply);
            req.raw.on('close', () => {
              unsubscribe();
              clearInterval(ping);
              streams.delete(reply);
            });
          },
        );

        const WebhookT = Type.Object({
          id: Type.Integer(),
          url: Type.String(),
          sites: Type.Unsafe<string[] | null>({ type: 'array', items: { type: 'string' }, nullable: true }),
          hasSecret: Type.Boolean(),
          createdAt: Type.Integer(),
        });
        api.get(
          '/alerts/webhooks',
          {
            ...cfg(['admin']),
            schema: {
              ...doc('Webhooks that receive alert events', ['admin'], 'alerts'),
              response: { 200: Type.Array(WebhookT), ...errors },
            },
          },
          async () => d.webhooks.list(),
        );
        api.post(
          '/alerts/webhooks',
          {
            ...cfg(['admin']),
            schema: {
              ...doc(
                'Add (or update) a webhook: every alert event is POSTed to it as JSON, retried with backoff until it answers 2xx',
                ['admin'],
                'alerts',
              ),
              body: Type.Object(
                {
                  url: Type.String({ pattern: '^https?://' }),
                  secret: Type.Optional(Type.String({ minLength: 8, description: 'HMAC-SHA256 key for X-Testbed-Signature' })),
                  sites: Type.Optional(Type.Array(Type.String())),
                },
                { additionalProperties: false },
              ),
              response: { 201: WebhookT, ...errors },
            },
          },
          async (req, reply) => reply.code(201).send(d.webhooks.add(req.body, access(req).actor.id)),
        );
        api.delete(
          '/alerts/webhooks/:id',
          {
            ...cfg(['admin']),
            schema: {
              ...doc('Remove a webhook', ['admin'], 'alerts'),
              params: Type.Object({ id: Type.Integer() }),
              response: { 204: Type.Null(), ...errors },
            },
          },
          async (req, reply) => {
            if (!d.webhooks.remove(req.params.id)) throw new ApiError(404, `webhook ${req.params.id} does not exist`);
            return reply.code(204).send(null);
          },
        );

        const IdP = Type.Object({ id: Type.String() });
        api.get(
          '/alerts/:id',
          {
            ...cfg(ADMIN_COORD),
            schema: { ...doc('One alert', ADMIN_COORD, 'alerts'), params: IdP, response: { 200: AlertT, ...errors } },
          },
          async (req) => {
            const a = d.engine.get(req.params.id);
            if (!a) throw new ApiError(404, `alert '${req.params.id}' does not exist`);
            return visible(req, a);
          },
        );
        const must = (req: FastifyRequest, id: string) => {
          const a = d.engine.get(id);
          if (!a) throw new ApiError(404, `alert '${id}' does not exist`);
          visible(req, a);
        };
        api.post(
          '/alerts/:id/ack',
          {
            ...cfg(ADMIN_COORD),
            schema: {
              ...doc('Acknowledge an open alert (stops its escalation)', ADMIN_COORD, 'alerts'),
              params: IdP,
              response: { 200: AlertT, ...errors },
            },
          },
          async (req) => {
            must(req, req.params.id);
            return d.engine.acknowledge(req.params.id, access(req).actor.id);
          },
        );
        api.post(
          '/alerts/:id/resolve',
          {
            ...cfg(ADMIN_COORD),
            schema: {
              ...doc('Resolve an alert', ADMIN_COORD, 'alerts'),
              params: IdP,
              body: Type.Optional(Type.Object({ note: Type.Optional(Type.String({ maxLength: 2000 })) }, { additionalProperties: false })),
              response: { 200: AlertT, ...errors },
            },
          },
          async (req) => {
            must(req, req.params.id);
            return d.engine.resolve(req.params.id, access(req).actor.id, req.body?.note);
          },
        );
        api.post(
          '/alerts/:id/label',
          {
            ...cfg(ADMIN_COORD),
            schema: {
              ...doc('Label an alert a true or a false alarm (trial evidence: the false-alarm rate)', ADMIN_COORD, 'alerts'),
              params: IdP,
              body: Type.Object(
                { label: Type.Enum(['true', 'false']), note: Type.Optional(Type.String({ maxLength: 2000 })) },
                { additionalProperties: false },
              ),
              response: { 200: AlertT, ...errors },
            },
          },
          async (req) => {
            must(req, req.params.id);
            return d.engine.label(req.params.id, access(req).actor.id, req.body.label as 'true' | 'false', req.body.note);
          },
        );
      },
      { prefix: '/api/v1' },
    );
  };
}
