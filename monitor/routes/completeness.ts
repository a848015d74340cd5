// Completeness per participant-day, and loss accounting per device.

import { Type } from 'typebox';
import type { HttpPlugin } from '../../http/index.ts';
import { errorResponses } from '../../http/errors.ts';
import { Ts } from '../../lib/schemas.ts';
import { completenessReport } from '../completeness.ts';
import { assertSiteVisible, queryPeriod } from '../visibility.ts';
import { accessOf, type MonitorApiDeps } from './deps.ts';
import { DATA_ROLES, HEALTH_ROLES, Loose, ParticipantQ, SiteQ, TrialQ, UtcOffset } from './schemas.ts';

/** The participants of a completeness report (for the audit entry). */
const ofDays = (reply: unknown) => ((reply as { days?: { participant: string }[] } | null)?.days ?? []).map((d) => d.participant);

export const completenessRoutes =
  (d: MonitorApiDeps): HttpPlugin =>
  async (app) => {
    app.get(
      '/monitor/completeness',
      {
        config: { roles: DATA_ROLES, audit: { action: 'read', resource: 'completeness', participants: ofDays } },
        schema: {
          operationId: 'getCompleteness',
          tags: ['monitoring'],
          summary: 'Expected versus received reporting slots per participant-day',
          description:
            'With loss from seq gaps and why data is missing (absent, maintenance, gateway offline, device silent, ' + 'lost in transit).',
          querystring: Type.Object({
            from: Type.Optional(Ts('Start; default 7 days before `to`')),
            to: Type.Optional(Ts('End (exclusive); default now')),
            site: SiteQ(),
            trial: TrialQ(),
            participant: ParticipantQ(),
            detail: Type.Optional(Type.Boolean({ default: false, description: 'Include every device-day' })),
            utcOffsetMin: Type.Optional(UtcOffset('Local day boundary; default the configured offset')),
          }),
          response: {
            200: Loose(
              '{ from, to, summary: { participantDays, expectedSlots, coveredSlots, completeness, lost }, days: [participant-day] }',
            ),
            ...errorResponses(400),
          },
        },
      },
      async (req) => {
        const q = req.query;
        const period = queryPeriod(q, d.clock(), 7);
        const access = accessOf(d, req);
        if (q.site) assertSiteVisible(access, q.site);
        const utcOffsetMin = q.utcOffsetMin ?? d.utcOffsetMin;
        const query = { ...period, site: q.site, trial: q.trial, participant: q.participant, utcOffsetMin, now: d.clock() };
        return completenessReport(await d.completeness.participantDays(query, access), period, q.detail === true);
      },
    );

    app.get(
      '/monitor/loss',
      {
        config: { roles: HEALTH_ROLES },
        schema: {
          operationId: 'getLoss',
          tags: ['monitoring'],
          summary: 'Loss accounting per device',
          description: 'Readings numbered by the gateway (seq span), stored, and lost in transit, per day.',
          querystring: Type.Object({
            from: Type.Optional(Ts('Start')),
            to: Type.Optional(Ts('End')),
            site: SiteQ(),
            utcOffsetMin: Type.Optional(UtcOffset()),
          }),
          response: {
            200: Loose('{ from, to, devices: [{ site, gateway, device, kind, received, lost, firstSeq, lastSeq, days }] }'),
            ...errorResponses(400),
          },
        },
      },
      async (req) => {
        const period = queryPeriod(req.query, d.clock(), 7);
        const query = { ...period, site: req.query.site, utcOffsetMin: req.query.utcOffsetMin ?? d.utcOffsetMin, now: d.clock() };
        return { ...period, devices: await d.completeness.loss(query, accessOf(d, req)) };
      },
    );
  };
