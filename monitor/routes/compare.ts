// Sites compared over a period, with confidence intervals; baseline versus intervention.

import { Type } from 'typebox';
import type { HttpPlugin } from '../../http/index.ts';
import { errorResponses } from '../../http/errors.ts';
import { Ts } from '../../lib/schemas.ts';
import { compareSites } from '../compare.ts';
import { queryPeriod } from '../visibility.ts';
import { accessOf, type MonitorApiDeps } from './deps.ts';
import { COMPARE_ROLES, Loose, TrialQ, UtcOffset } from './schemas.ts';

export const compareRoutes =
  (d: MonitorApiDeps): HttpPlugin =>
  async (app) => {
    app.get(
      '/monitor/compare',
      {
        config: { roles: COMPARE_ROLES },
        schema: {
          operationId: 'compareSites',
          tags: ['monitoring'],
          summary: 'Sites compared over a period, with 95% confidence intervals',
          description:
            'Completeness, device uptime, alerts per participant-week, false-alarm rate, daily fluid intake, ' +
            'night-time toilet visits, time in bed; and baseline versus intervention (from the trial’s periods, or given here).',
          querystring: Type.Object({
            from: Type.Optional(Ts('Start; default 28 days before `to`')),
            to: Type.Optional(Ts('End; default now')),
            trial: TrialQ(),
            sites: Type.Optional(
              Type.String({
                pattern: '^[a-z0-9][a-z0-9-]{0,62}(,[a-z0-9][a-z0-9-]{0,62}){0,199}$',
                description: 'Comma-separated site ids',
              }),
            ),
            baselineFrom: Type.Optional(Ts('Baseline start')),
            baselineTo: Type.Optional(Ts('Baseline end')),
            interventionFrom: Type.Optional(Ts('Intervention start')),
            interventionTo: Type.Optional(Ts('Intervention end')),
            utcOffsetMin: Type.Optional(UtcOffset()),
          }),
          response: { 200: Loose('{ from, to, methods, sites: [SiteMetrics], baselineVsIntervention? }'), ...errorResponses(400) },
        },
      },
      async (req) => {
        const q = req.query;
        const period = queryPeriod(q, d.clock(), 28);
        const access = accessOf(d, req);
        const query = {
          ...period,
          ...d.periods.forComparison(q),
          trial: q.trial,
          sites: q.sites?.split(',').filter(Boolean),
          utcOffsetMin: q.utcOffsetMin ?? d.utcOffsetMin,
          now: d.clock(),
        };
        // A company sees aggregates only (no participant ids leave), over every site.
        return compareSites(d.completeness, d.engine, query, access.org !== null ? { ...access, org: null } : access);
      },
    );
  };
