// One device's history: its state now, readings received and lost per day, its alerts and assignments.

import { DAY, card, h, status, table, time } from './dom.js';
import { VIEWS, api, state } from './session.js';

export async function deviceView(/** @type {string} */ id) {
  const now = Date.now();
  const [devices, loss, alerts, assignments] = await Promise.all([
    api('/monitor/devices').catch(() => null),
    api(`/monitor/loss?from=${now - 14 * DAY}&to=${now}`).catch(() => null),
    VIEWS[state.me?.role ?? 'researcher'].includes('alerts') ? api('/alerts?limit=2000').catch(() => []) : Promise.resolve([]),
    api(`/devices/${encodeURIComponent(id)}/assignments`).catch(() => []),
  ]);
  const d = devices?.devices.find((/** @type {any} */ x) => x.device === id);
  const l = loss?.devices.find((/** @type {any} */ x) => x.device === id);
  const mine = alerts.filter((/** @type {any} */ a) => a.device === id);
  const days = l?.days ?? [];
  const max = Math.max(1, ...days.map((/** @type {any} */ x) => x.received + x.lost));
  return h(
    'div',
    null,
    h('p', null, h('a', { href: '#fleet' }, '← Fleet')),
    card(
      'Now',
      d
        ? h(
            'dl',
            { class: 'facts' },
            h('dt', null, 'State'),
            h('dd', null, status(d.status), d.reason ? ` ${d.reason}` : ''),
            h('dt', null, 'Kind'),
            h('dd', null, d.kind),
            h('dt', null, 'Site / gateway'),
            h('dd', null, `${d.site} / ${d.gateway}`),
            h('dt', null, 'Home'),
            h('dd', null, d.home ?? '–'),
            h('dt', null, 'Last reading'),
            h(
              'dd',
              null,
              time(d.lastSeen),
              ` (late after ${Math.round(d.lateAfterS / 60)} min, silent after ${Math.round(d.silentAfterS / 3600)} h)`,
            ),
            h('dt', null, 'Battery'),
            h('dd', null, d.battery === null ? '–' : `${d.battery} %`),
          )
        : h('p', null, 'Not heard from (or not visible to your role).'),
    ),
    card(
      'Readings per day (last 14 days)',
      days.length
        ? h(
            'div',
            null,
            h(
              'ol',
              { class: 'bars', 'aria-label': 'Readings received and lost per day' },
              days.map((/** @type {any} */ x) =>
                h(
                  'li',
                  null,
                  h('span', { class: 'bar-label' }, x.date),
                  h(
                    'span',
                    { class: 'bar', 'aria-hidden': 'true' },
                    h('span', { class: 'ok', style: { width: `${(100 * x.received) / max}%` } }),
                    h('span', { class: 'lost', style: { width: `${(100 * x.lost) / max}%` } }),
                  ),
                  h('span', null, `${x.received} received${x.lost ? `, ${x.lost} lost` : ''}`),
                ),
              ),
            ),
          )
        : h('p', null, loss ? 'No readings in the last 14 days.' : 'Loss accounting is not available to your role.'),
    ),
    card(
      'Alerts',
      table(
        `${mine.length} alerts`,
        ['Opened', 'Rule', 'Status', 'Label', 'Message'],
        mine.map((/** @type {any} */ a) => [time(a.openedAt), a.rule, status(a.status), a.label ?? '–', a.message]),
      ),
    ),
    card(
      'Assignments',
      table(
        `${assignments.length} assignments`,
        ['From', 'To', 'Home', 'Participant'],
        assignments.map((/** @type {any} */ a) => [
          new Date(a.from).toLocaleString(),
          a.to ? new Date(a.to).toLocaleString() : 'now',
          a.homeId ?? '–',
          a.participantId ?? '–',
        ]),
      ),
    ),
  );
}
