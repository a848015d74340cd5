// Completeness: a participant × day heatmap of covered reporting slots, and why data is missing.

import { DAY, card, h, pct, table } from './dom.js';
import { api } from './session.js';

export async function completenessView() {
  const to = Date.now();
  const res = await api(`/monitor/completeness?from=${to - 7 * DAY}&to=${to}`);
  const days = res.days;
  const dates = [...new Set(days.map((/** @type {any} */ d) => d.date))].sort();
  /** @type {Map<string, { site: string, home: string, byDate: Map<string, any> }>} */
  const people = new Map();
  for (const d of days) {
    const p = people.get(d.participant) ?? people.set(d.participant, { site: d.site, home: d.home, byDate: new Map() }).get(d.participant);
    p?.byDate.set(d.date, d);
  }
  const band = (/** @type {number | null} */ c) =>
    c === null ? 'na' : c >= 0.95 ? 'c5' : c >= 0.8 ? 'c4' : c >= 0.6 ? 'c3' : c >= 0.3 ? 'c2' : 'c1';
  const grid = h(
    'table',
    { class: 'heatmap' },
    h('caption', null, 'Participant × day: covered / expected reporting slots'),
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        h('th', { scope: 'col' }, 'Participant'),
        h('th', { scope: 'col' }, 'Site / home'),
        dates.map((d) => h('th', { scope: 'col' }, d.slice(5))),
      ),
    ),
    h(
      'tbody',
      null,
      [...people.entries()]
        .sort((a, b) => a[1].site.localeCompare(b[1].site) || a[0].localeCompare(b[0]))
        .map(([id, p]) =>
          h(
            'tr',
            null,
            h('th', { scope: 'row' }, id),
            h('td', null, `${p.site} / ${p.home}`),
            dates.map((date) => {
              const d = p.byDate.get(date);
              if (!d) return h('td', { class: 'cell na' }, '');
              return h(
                'td',
                {
                  class: `cell ${band(d.completeness)}`,
                  title: [`${pct(d.completeness, 1)} (${d.coveredSlots}/${d.expectedSlots} slots)`, ...d.reasons].join('\n'),
                },
                pct(d.completeness),
              );
            }),
          ),
        ),
    ),
  );
  const legend = h(
    'p',
    { class: 'legend' },
    'Legend: ',
    ['c5 ≥ 95 %', 'c4 ≥ 80 %', 'c3 ≥ 60 %', 'c2 ≥ 30 %', 'c1 < 30 %'].map((x) => {
      const [c, ...t] = x.split(' ');
      return h('span', { class: `cell ${c}` }, t.join(' '));
    }),
  );
  const gaps = days.filter((/** @type {any} */ d) => d.completeness !== null && d.completeness < 1).slice(0, 100);
  const summary = h(
    'p',
    null,
    `Overall ${pct(res.summary.completeness, 1)} over ${res.summary.participantDays} participant-days (last 7 days); ` +
      `${res.summary.lost} readings lost in transit. Hover or focus a cell for its slots and reasons.`,
  );
  return h(
    'div',
    null,
    card('Heatmap', summary, h('div', { class: 'scroll' }, grid), legend),
    card(
      'Why data is missing',
      table(
        `${gaps.length} participant-days below 100 %`,
        ['Participant', 'Day', 'Completeness', 'Reasons'],
        gaps.map((/** @type {any} */ d) => [d.participant, d.date, pct(d.completeness, 1), d.reasons.join('; ') || '–']),
      ),
    ),
  );
}
