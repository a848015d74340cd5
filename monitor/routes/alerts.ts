// Alerts: list, one, acknowledge, resolve, label; and the live stream of their events (SSE).

import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { HttpPlugin } from '../../http/index.ts';
import { recordAudit } from '../../http/audit.ts';
import { errorResponses } from '../../http/errors.ts';
import { Ts } from '../../lib/schemas.ts';
import { ApiError } from '../../lib/errors.ts';
import type { Alert as AlertRecord, AlertEvent } from '../alerts.ts';
import { eventBody } from '../delivery.ts';
import { RULES } from '../thresholds.ts';
import { assertSiteVisible, visibleAlert } from '../visibility.ts';
import { accessOf, type MonitorApiDeps } from './deps.ts';
import { ADMIN_COORD, Alert, AlertId, ParticipantQ, SiteQ } from './schemas.ts';

const Note = Type.String({ maxLength: 2000 });

/** The participants named in a reply of one alert or a list of them (for the audit entry). */
const ofAlerts = (reply: unknown) => (Array.isArray(reply) ? reply : [reply]).map((a) => (a as AlertRecord | null)?.participant);

export const alertRoutes =
  (d: MonitorApiDeps): HttpPlugin =>
  async (app) => {
    /** The alert the request names, if the caller may see it: 404 or 403 otherwise. */
    const alertOf = (req: FastifyRequest<{ Params: { id: string } }>): AlertRecord => {
      const alert = d.engine.get(req.params.id);
      if (!alert) throw new ApiError(404, `alert '${req.params.id}' does not exist`);
      return visibleAlert(accessOf(d, req), alert);
    };

    app.get(
      '/alerts',
      {
        config: { roles: ADMIN_COORD, audit: { action: 'read', resource: 'alert', participants: ofAlerts } },
        schema: {
          operationId: 'listAlerts',
          tags: ['alerts'],
          summary: 'Alerts, newest first',
          querystring: Type.Object({
            status: Type.Optional(Type.Enum(['open', 'acknowledged', 'resolved', 'active'])),
            site: SiteQ(),
            rule: Type.Optional(Type.Enum([...RULES])),
            participant: ParticipantQ(),
            since: Type.Optional(Ts('Opened at or after')),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, default: 500 })),
          }),
          response: { 200: Type.Array(Alert), ...errorResponses(400) },
        },
      },
      async (req) => {
        const access = accessOf(d, req);
        if (req.query.site) assertSiteVisible(access, req.query.site);
        return d.engine.list({ ...req.query, sites: access.sites });
      },
    );

    app.get(
      '/alerts/:id',
      {
        config: { roles: ADMIN_COORD, audit: { action: 'read', resource: 'alert', participants: ofAlerts } },
        schema: {
          operationId: 'getAlert',
          tags: ['alerts'],
          summary: 'One alert',
          params: AlertId,
          response: { 200: Alert, ...errorResponses(404) },
        },
      },
      async (req) => alertOf(req),
    );

    app.post(
      '/alerts/:id/ack',
      {
        config: { roles: ADMIN_COORD, audit: { action: 'acknowledge', resource: 'alert', participants: ofAlerts } },
        schema: {
          operationId: 'acknowledgeAlert',
          tags: ['alerts'],
          summary: 'Acknowledge an open alert (stops its escalation)',
          params: AlertId,
          response: { 200: Alert, ...errorResponses(404, 409) },
        },
      },
      async (req) => d.engine.acknowledge(alertOf(req).id, accessOf(d, req).actor.id),
    );

    app.post(
      '/alerts/:id/resolve',
      {
        config: { roles: ADMIN_COORD, audit: { action: 'resolve', resource: 'alert', participants: ofAlerts } },
        schema: {
          operationId: 'resolveAlert',
          tags: ['alerts'],
          summary: 'Resolve an alert',
          params: AlertId,
          body: Type.Optional(Type.Object({ note: Type.Optional(Note) }, { additionalProperties: false })),
          response: { 200: Alert, ...errorResponses(400, 404, 409) },
        },
      },
      async (req) => d.engine.resolve(alertOf(req).id, accessOf(d, req).actor.id, req.body?.note),
    );

    app.post(
      '/alerts/:id/label',
      {
        config: { roles: ADMIN_COORD, audit: { action: 'label', resource: 'alert', participants: ofAlerts } },
        schema: {
          operationId: 'labelAlert',
          tags: ['alerts'],
          summary: 'Label an alert a true or a false alarm',
          description: 'Trial evidence: the false-alarm rate.',
          params: AlertId,
          body: Type.Object({ label: Type.Enum(['true', 'false']), note: Type.Optional(Note) }, { additionalProperties: false }),
          response: { 200: Alert, ...errorResponses(400, 404) },
        },
      },
      async (req) => d.engine.label(alertOf(req).id, accessOf(d, req).actor.id, req.body.label as 'true' | 'false', req.body.note),
    );

    await app.register(alertStream(d));
  };

/** Replay pages (1000 events each) sent on resume; a client further behind reloads the list instead. */
const REPLAY_PAGES = 20;

/**
 * The persisted events after `last` that the caller may see, oldest first: the scope is in the
 * query, so another site's events cannot fill the pages and hide the caller's. Synchronous, so
 * no live event can slip between the replay and the subscription that follows it.
 */
function replay(
  d: MonitorApiDeps,
  last: number,
  scope: { sites: Set<string> | null; site?: string | undefined },
  send: (e: AlertEvent) => void,
) {
  let after = last;
  for (let page = 0; page < REPLAY_PAGES; page++) {
    const events = d.engine.eventsAfter(after, 1000, scope);
    for (const e of events) send(e);
    if (events.length < 1000) return;
    after = events.at(-1)!.id;
  }
}

/** Open streams are ended when the app closes, or close() would wait for them forever. */
const alertStream =
  (d: MonitorApiDeps): HttpPlugin =>
  async (app) => {
    const streams = new Set<FastifyReply>();
    app.addHook('preClose', async () => {
      for (const r of streams) r.raw.end();
      streams.clear();
    });

    app.get(
      '/alerts/stream',
      {
        // The stream's participants are not known when it opens: the entry records who opened it, with what filter.
        config: { roles: ADMIN_COORD, audit: { action: 'read', resource: 'alert-stream' } },
        schema: {
          operationId: 'streamAlertEvents',
          tags: ['alerts'],
          summary: 'Alert events as server-sent events',
          description:
            'event: opened | acknowledged | escalated | resolved | labelled; data: {event, alert}. ' +
            'Resumes after `Last-Event-ID`: the persisted events after it are sent first.',
          querystring: Type.Object({ site: SiteQ() }),
          response: {
            200: {
              description: 'An endless text/event-stream; a comment line every 15 s keeps proxies from closing it',
              content: { 'text/event-stream': { schema: Type.String() } },
            },
          },
        },
      },
      async (req, reply) => {
        const access = accessOf(d, req);
        const site = req.query.site;
        if (site) assertSiteVisible(access, site);
        // A hijacked reply skips the shell's onSend hook: recorded here, before anything is sent.
        await recordAudit(req);
        const wanted = (s: string) => (!site || s === site) && (!access.sites || access.sites.has(s));
        reply.hijack();
        const res = reply.raw;
        res.writeHead(200, {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-cache, no-transform',
          connection: 'keep-alive',
          'x-accel-buffering': 'no',
        });
        res.write('retry: 2000\n\n');
        const send = (e: AlertEvent) => {
          if (wanted(e.alert.site)) res.write(`id: ${e.id}\nevent: ${e.type}\ndata: ${eventBody(e)}\n\n`);
        };
        const last = Number(req.headers['last-event-id']);
        if (Number.isSafeInteger(last) && last >= 0) replay(d, last, { sites: access.sites, site }, send);
        // Owned by its token and user: revoking or disabling them ends it (SseHub.endSessions).
        const unsubscribe = d.hub.subscribe(send, { tokenId: access.actor.tokenId, userId: access.actor.id, end: () => res.end() });
        const ping = setInterval(() => res.write(': ping\n\n'), 15_000);
        streams.add(reply);
        req.raw.on('close', () => {
          unsubscribe();
          clearInterval(ping);
          streams.delete(reply);
        });
      },
    );
  };
