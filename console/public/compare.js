// Site comparison: each metric with its 95 % interval per site, and baseline versus intervention.

import { card, h, num, pct, table } from './dom.js';
import { api } from './session.js';

const METRICS = /** @type {[string, string, 'pct' | 'num', number][]} */ ([
  ['completeness', 'Completeness', 'pct', 1],
  ['deviceUptime', 'Device uptime', 'pct', 1],
  ['careAlertsPerParticipantWeek', 'Care alerts / participant-week', 'num', 2],
  ['technicalAlertsPerParticipantWeek', 'Technical alerts / participant-week', 'num', 2],
  ['falseAlarmRate', 'False-alarm rate', 'pct', 1],
  ['dailyFluidIntakeMl', 'Daily fluid intake (ml)', 'num', 0],
  ['nightToiletVisits', 'Night-time toilet visits', 'num', 2],
  ['timeInBedHours', 'Time in bed (h)', 'num', 1],
]);

function interval(/** @type {any} */ iv, /** @type {'pct' | 'num'} */ kind, /** @type {number} */ d, /** @type {number} */ scale) {
  if (iv?.suppressed) return h('span', { class: 'muted' }, `– (withheld: ${iv.suppressed})`);
  if (!iv || iv.estimate === null) return h('span', { class: 'muted' }, `– (n = ${iv?.n ?? 0})`);
  const f = (/** @type {number | null} */ x) => (kind === 'pct' ? pct(x, d) : num(x, d));
  const lo = iv.lower ?? iv.estimate,
    hi = iv.upper ?? iv.estimate;
  const pos = (/** @type {number} */ x) => Math.max(0, Math.min(100, (100 * x) / (scale || 1)));
  return h(
    'span',
    { class: 'iv' },
    h('span', null, `${f(iv.estimate)} `, h('span', { class: 'muted' }, `[${f(iv.lower)} – ${f(iv.upper)}], n = ${iv.n}`)),
    h(
      'span',
      { class: 'ivbar', 'aria-hidden': 'true' },
      h('span', { class: 'range', style: { left: `${pos(lo)}%`, width: `${Math.max(0.5, pos(hi) - pos(lo))}%` } }),
      h('span', { class: 'point', style: { left: `${pos(iv.estimate)}%` } }),
    ),
  );
}

export async function compareView() {
  const res = await api('/monitor/compare');
  const sites = res.sites;
  const rows = METRICS.map(([key, label, kind, d]) => {
    const scale = kind === 'pct' ? 1 : Math.max(...sites.map((/** @type {any} */ s) => s[key]?.upper ?? s[key]?.estimate ?? 0), 0) * 1.1;
    return [label, ...sites.map((/** @type {any} */ s) => interval(s[key], kind, d, scale))];
  });
  const parts = [
    card(
      `Sites, ${new Date(res.from).toISOString().slice(0, 10)} – ${new Date(res.to).toISOString().slice(0, 10)} (95 % intervals)`,
      h(
        'div',
        { class: 'scroll' },
        table(
          'Estimate [lower – upper 95 %], n',
          [
            'Metric',
            ...sites.map((/** @type {any} */ s) => `${s.site} (${s.participants === null ? 'too few' : s.participants} participants)`),
          ],
          rows,
        ),
      ),
      h(
        'details',
        null,
        h('summary', null, 'Methods'),
        h(
          'dl',
          { class: 'facts' },
          Object.entries(res.methods).flatMap(([k, v]) => [h('dt', null, k), h('dd', null, String(v))]),
        ),
      ),
    ),
  ];
  const bvi = res.baselineVsIntervention;
  if (bvi)
    parts.push(
      card(
        'Baseline vs intervention (paired difference)',
        table(
          'intervention − baseline per participant present in both',
          ['Site', 'Completeness', 'Daily intake (ml)', 'Night toilet visits', 'Time in bed (h)'],
          bvi.sites.map((/** @type {any} */ s) => [
            s.site,
            interval(s.difference.completeness, 'pct', 1, 1),
            interval(s.difference.dailyFluidIntakeMl, 'num', 0, 0),
            interval(s.difference.nightToiletVisits, 'num', 2, 0),
            interval(s.difference.timeInBedHours, 'num', 1, 0),
          ]),
        ),
      ),
    );
  else
    parts.push(
      h('p', { class: 'muted' }, 'Baseline vs intervention appears once a trial’s periods are set (PUT /api/v1/monitor/periods/{trial}).'),
    );
  return h('div', null, parts);
}
