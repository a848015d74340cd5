// Sites compared over a period, with confidence intervals; baseline versus intervention.

import { Type } from 'typebox';
import type { HttpPlugin } from '../../http/index.ts';
import { errorResponses } from '../../http/errors.ts';
import { ApiError } from '../../lib/errors.ts';
import { Ts } from '../../lib/schemas.ts';
import { compareSites } from '../compare.ts';
import { queryPeriod } from '../visibility.ts';
import { accessOf, type MonitorApiDeps } from './deps.ts';
import { COMPARE_ROLES, Loose, TrialQ, UtcOffset } from './schemas.ts';

/** A company sees no comparison cell computed over fewer participants than this. */
export const COMPANY_MIN_PARTICIPANTS = 5;

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
            'night-time toilet visits, time in bed; and baseline versus intervention (from the trial’s periods, or given here). ' +
            `A company sees sites where it operates devices or gateways only (another site named in \`sites\` is 403), figures over ` +
            `consented, not withdrawn participants only, and any cell over fewer than ${COMPANY_MIN_PARTICIPANTS} participants suppressed.`,
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
          response: {
            200: Loose(
              '{ from, to, methods, sites: [SiteMetrics], baselineVsIntervention? }. For a company, a cell computed over fewer than ' +
                `${COMPANY_MIN_PARTICIPANTS} participants is suppressed: estimate, lower and upper null, n 0, and \`suppressed\` ` +
                `("fewer than ${COMPANY_MIN_PARTICIPANTS} participants"); a site's participants and participantWeeks are null then too.`,
            ),
            ...errorResponses(400, 403),
          },
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
        if (access.org === null) return compareSites(d.completeness, d.engine, query, access);
        // A company: aggregates only (no participant ids leave), over consented participants at the sites it operates at,
        // each cell withheld below the threshold.
        const operated = d.view.operatedSites(access.org);
        for (const site of query.sites ?? [])
          if (!operated.has(site)) throw new ApiError(403, `site '${site}' has none of your organisation's devices or gateways`);
        const company = { ...access, org: null, sites: operated, consentedOnly: true };
        return compareSites(d.completeness, d.engine, query, company, { minParticipants: COMPANY_MIN_PARTICIPANTS });
      },
    );
  };
