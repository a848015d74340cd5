// What staff set: alert thresholds per scope, a trial's baseline and intervention periods,
// maintenance windows, and the webhooks alert events are delivered to.

import { Type } from 'typebox';
import type { HttpPlugin } from '../../http/index.ts';
import { errorResponses } from '../../http/errors.ts';
import { ApiError } from '../../lib/errors.ts';
import { assertScopeWritable, assertSiteVisible, assertTrialOwned } from '../visibility.ts';
import { accessOf, type MonitorApiDeps } from './deps.ts';
import {
  ADMIN_COORD,
  COMPARE_ROLES,
  HEALTH_ROLES,
  Loose,
  MaintenanceWindow,
  NumericId,
  SiteQ,
  ThresholdPatch,
  TrialPeriods,
  Webhook,
  Window,
} from './schemas.ts';
import { Slug } from '../../lib/schemas.ts';
import { DEVICE_ID_PATTERN } from '../../devices/index.ts';

const TrialParam = Type.Object({ trial: Slug('trial') });
const SCOPE = '^(default|trial:[a-z0-9][a-z0-9-]{0,62}|site:[a-z0-9][a-z0-9-]{0,62})$';

export const configRoutes =
  (d: MonitorApiDeps): HttpPlugin =>
  async (app) => {
    app.get(
      '/monitor/thresholds',
      {
        config: { roles: ADMIN_COORD },
        schema: {
          operationId: 'getThresholds',
          tags: ['alerts'],
          summary: 'Alert thresholds',
          description: 'Defaults, overrides per scope (default, trial:<id>, site:<id>), and the effective values for a site.',
          querystring: Type.Object({ site: SiteQ() }),
          response: { 200: Loose('{ defaults, scopes, effective? }') },
        },
      },
      async (req) => ({
        defaults: d.thresholds.defaults,
        scopes: d.thresholds.scopes(),
        ...(req.query.site ? { effective: d.engine.thresholdsFor(req.query.site) } : {}),
      }),
    );

    app.put(
      '/monitor/thresholds/:scope',
      {
        config: { roles: ADMIN_COORD, audit: { action: 'update', resource: 'thresholds' } },
        schema: {
          operationId: 'setThresholds',
          tags: ['alerts'],
          summary: 'Override thresholds for a scope',
          description: 'A scope is `default`, `trial:<id>` or `site:<id>` (site wins over trial, trial over default).',
          params: Type.Object({ scope: Type.String({ pattern: SCOPE }) }),
          body: ThresholdPatch,
          response: { 200: Loose('{ scope, thresholds }'), ...errorResponses(400) },
        },
      },
      async (req) => {
        const access = accessOf(d, req);
        assertScopeWritable(d.view, access, req.params.scope);
        // The audit entry has the patch (the body); the values it replaced complete "what changed".
        req.auditNote = { before: d.thresholds.get(req.params.scope) ?? null };
        d.thresholds.set(req.params.scope, req.body, access.actor.id);
        return { scope: req.params.scope, thresholds: req.body };
      },
    );

    app.get(
      '/monitor/periods/:trial',
      {
        config: { roles: COMPARE_ROLES },
        schema: {
          operationId: 'getTrialPeriods',
          tags: ['monitoring'],
          summary: 'Baseline and intervention periods of a trial',
          params: TrialParam,
          response: { 200: TrialPeriods, ...errorResponses(404) },
        },
      },
      async (req) => {
        const periods = d.periods.get(req.params.trial);
        if (!periods) throw new ApiError(404, `no periods set for trial '${req.params.trial}'`);
        return periods;
      },
    );

    app.put(
      '/monitor/periods/:trial',
      {
        config: { roles: ADMIN_COORD, audit: { action: 'update', resource: 'trial-periods' } },
        schema: {
          operationId: 'setTrialPeriods',
          tags: ['monitoring'],
          summary: 'Set the baseline and intervention periods of a trial (for comparison)',
          params: TrialParam,
          body: Type.Object({ baseline: Window, intervention: Window }, { additionalProperties: false }),
          response: { 200: TrialPeriods, ...errorResponses(400) },
        },
      },
      async (req) => {
        const access = accessOf(d, req);
        assertTrialOwned(d.view, access, req.params.trial);
        req.auditNote = { before: d.periods.get(req.params.trial) ?? null };
        return d.periods.set(req.params.trial, req.body.baseline, req.body.intervention, access.actor.id);
      },
    );

    app.get(
      '/monitor/maintenance',
      {
        config: { roles: HEALTH_ROLES },
        schema: {
          operationId: 'listMaintenanceWindows',
          tags: ['monitoring'],
          summary: 'Maintenance windows (alarms suppressed, data not expected)',
          querystring: Type.Object({ site: SiteQ() }),
          response: { 200: Type.Array(MaintenanceWindow) },
        },
      },
      async (req) => {
        const { sites } = accessOf(d, req);
        return d.maintenance.list(req.query.site).filter((w) => !sites || sites.has(w.site));
      },
    );

    app.post(
      '/monitor/maintenance',
      {
        config: { roles: ADMIN_COORD, audit: { action: 'create', resource: 'maintenance' } },
        schema: {
          operationId: 'createMaintenanceWindow',
          tags: ['monitoring'],
          summary: 'Open a maintenance window for a site, a gateway or a device',
          body: Type.Object(
            {
              site: Slug('site'),
              gateway: Type.Optional(Slug('gateway')),
              device: Type.Optional(Type.String({ pattern: DEVICE_ID_PATTERN.source })),
              from: Type.Integer({ minimum: 0 }),
              to: Type.Integer({ minimum: 0 }),
              reason: Type.Optional(Type.String({ maxLength: 500 })),
            },
            { additionalProperties: false },
          ),
          response: { 201: MaintenanceWindow, ...errorResponses(400) },
        },
      },
      async (req, reply) => {
        const access = accessOf(d, req);
        assertSiteVisible(access, req.body.site);
        if (req.body.to <= req.body.from) throw new ApiError(400, '`to` must be after `from`');
        return reply.code(201).send(d.maintenance.add(req.body, access.actor.id));
      },
    );

    app.delete(
      '/monitor/maintenance/:id',
      {
        config: { roles: ADMIN_COORD, audit: { action: 'delete', resource: 'maintenance' } },
        schema: {
          operationId: 'deleteMaintenanceWindow',
          tags: ['monitoring'],
          summary: 'Remove a maintenance window',
          params: NumericId,
          response: { 204: Type.Null({ description: 'Removed' }), ...errorResponses(400, 404) },
        },
      },
      async (req, reply) => {
        const window = d.maintenance.get(req.params.id);
        if (!window) throw new ApiError(404, `maintenance window ${req.params.id} does not exist`);
        assertSiteVisible(accessOf(d, req), window.site);
        req.auditNote = { removed: window };
        d.maintenance.remove(req.params.id);
        return reply.code(204).send(null);
      },
    );

    app.get(
      '/alerts/webhooks',
      {
        config: { roles: ['admin'] },
        schema: {
          operationId: 'listWebhooks',
          tags: ['alerts'],
          summary: 'Webhooks that receive alert events',
          response: { 200: Type.Array(Webhook) },
        },
      },
      async () => d.webhooks.list(),
    );

    app.post(
      '/alerts/webhooks',
      {
        config: { roles: ['admin'], audit: { action: 'create', resource: 'webhook' } },
        schema: {
          operationId: 'addWebhook',
          tags: ['alerts'],
          summary: 'Add (or update) a webhook',
          description: 'Every alert event is POSTed to it as JSON, retried with backoff until it answers 2xx.',
          body: Type.Object(
            {
              url: Type.String({ pattern: '^https?://' }),
              secret: Type.Optional(Type.String({ minLength: 8, description: 'HMAC-SHA256 key for X-Testbed-Signature' })),
              sites: Type.Optional(Type.Array(Slug('site'), { maxItems: 1000 })),
            },
            { additionalProperties: false },
          ),
          response: { 201: Webhook, ...errorResponses(400) },
        },
      },
      async (req, reply) => reply.code(201).send(d.webhooks.add(req.body, accessOf(d, req).actor.id)),
    );

    app.delete(
      '/alerts/webhooks/:id',
      {
        config: { roles: ['admin'], audit: { action: 'delete', resource: 'webhook' } },
        schema: {
          operationId: 'deleteWebhook',
          tags: ['alerts'],
          summary: 'Remove a webhook',
          params: NumericId,
          response: { 204: Type.Null({ description: 'Removed' }), ...errorResponses(400, 404) },
        },
      },
      async (req, reply) => {
        req.auditNote = { removed: d.webhooks.list().find((w) => w.id === req.params.id) ?? null };
        if (!d.webhooks.remove(req.params.id)) throw new ApiError(404, `webhook ${req.params.id} does not exist`);
        return reply.code(204).send(null);
      },
    );
  };
