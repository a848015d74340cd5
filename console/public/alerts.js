// Live alerts: the list, kept current by the server-sent event stream, and the actions on each alert.

import { $, DAY, h, status, time } from './dom.js';
import { API, api, state } from './session.js';
import { readSse } from './sse.js';

export async function startAlerts() {
  try {
    for (const a of await api('/alerts?status=active&limit=1000')) state.alerts.set(a.id, a);
  } catch {
    /* shown in the view */
  }
  updateBadge();
  state.stream = new AbortController();
  const stateText = $('stream-state');
  void readSse({
    url: `${API}/alerts/stream`,
    token: state.token,
    signal: state.stream.signal,
    onState: (s, detail) => {
      stateText.textContent =
        s === 'open'
          ? 'Live alerts: connected'
          : s === 'connecting'
            ? 'Live alerts: connecting…'
            : `Live alerts: closed${detail ? ` (${detail})` : ''}`;
      stateText.dataset.state = s;
    },
    onEvent: (e) => {
      const alert = e.data?.alert;
      if (!alert?.id) return;
      state.alerts.set(alert.id, alert);
      if (e.type === 'opened') state.flash.add(alert.id);
      updateBadge();
      if (location.hash.startsWith('#alerts')) renderAlertList();
    },
  });
}

function updateBadge() {
  const open = [...state.alerts.values()].filter((a) => a.status === 'open').length;
  $('alert-count').textContent = open ? `${open} open` : '';
}

let alertBox = h('div');
export async function alertsView() {
  const recent = await api(`/alerts?since=${Date.now() - 7 * DAY}&limit=500`);
  for (const a of recent) if (!state.alerts.has(a.id) || state.alerts.get(a.id).status !== a.status) state.alerts.set(a.id, a);
  alertBox = h('div', { id: 'alert-list' });
  renderAlertList();
  return h(
    'div',
    null,
    h(
      'p',
      null,
      'New alerts appear here as they are raised (server-sent events). Acknowledge stops escalation; ' +
        'label each as a true or false alarm — the false-alarm rate is trial evidence.',
    ),
    alertBox,
  );
}

/** @param {string} id @param {string} what @param {unknown} [json] */
async function act(id, what, json) {
  try {
    const a = await api(`/alerts/${encodeURIComponent(id)}/${what}`, { method: 'POST', json: json ?? {} });
    state.alerts.set(a.id, a);
    updateBadge();
    renderAlertList(`Alert ${what === 'ack' ? 'acknowledged' : what === 'resolve' ? 'resolved' : 'labelled'}.`);
  } catch (err) {
    renderAlertList(`Failed: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function renderAlertList(message = '') {
  const order = { critical: 0, warning: 1, info: 2 };
  const list = [...state.alerts.values()]
    .sort(
      (a, b) =>
        (a.status === 'resolved' ? 1 : 0) - (b.status === 'resolved' ? 1 : 0) ||
        (order[a.severity] ?? 3) - (order[b.severity] ?? 3) ||
        b.openedAt - a.openedAt,
    )
    .slice(0, 300);
  const rows = list.map((a) => {
    const cls = `alert sev-${a.severity}${state.flash.has(a.id) ? ' new' : ''}`;
    return h(
      'li',
      { class: cls, 'data-alert': a.id, 'data-rule': a.rule, 'data-status': a.status },
      h(
        'div',
        { class: 'alert-head' },
        h('strong', null, `${a.severity.toUpperCase()} · ${a.rule}`),
        ' ',
        status(a.status),
        ' ',
        time(a.openedAt),
      ),
      h('div', null, a.message),
      h(
        'div',
        { class: 'muted' },
        [a.site, a.home].filter(Boolean).join(' / '),
        a.device ? [' / ', h('a', { href: `#device/${encodeURIComponent(a.device)}` }, a.device)] : '',
        a.acknowledgedBy ? ` · acknowledged by ${a.acknowledgedBy}` : '',
        a.label ? ` · labelled ${a.label === 'true' ? 'true alarm' : 'false alarm'}` : '',
      ),
      h(
        'div',
        { class: 'actions', role: 'group', 'aria-label': `Actions for ${a.rule} alert ${a.id}` },
        a.status === 'open' ? h('button', { type: 'button', onclick: () => act(a.id, 'ack') }, 'Acknowledge') : null,
        a.status !== 'resolved' ? h('button', { type: 'button', onclick: () => act(a.id, 'resolve') }, 'Resolve') : null,
        h(
          'button',
          { type: 'button', 'aria-pressed': String(a.label === 'true'), onclick: () => act(a.id, 'label', { label: 'true' }) },
          'True alarm',
        ),
        h(
          'button',
          { type: 'button', 'aria-pressed': String(a.label === 'false'), onclick: () => act(a.id, 'label', { label: 'false' }) },
          'False alarm',
        ),
      ),
    );
  });
  // Keep keyboard focus on the same button across a re-render (a live event can arrive any time).
  const f = document.activeElement;
  const keep = f instanceof HTMLButtonElement && alertBox.contains(f) ? { id: f.closest('li')?.dataset.alert, text: f.textContent } : null;
  alertBox.replaceChildren(
    h('p', { class: 'status-msg', role: 'status' }, message),
    rows.length ? h('ul', { class: 'alerts' }, rows) : h('p', null, 'No alerts in the last 7 days.'),
  );
  if (keep) {
    const li = [...alertBox.querySelectorAll('li')].find((x) => /** @type {HTMLElement} */ (x).dataset.alert === keep.id);
    const buttons = li ? [...li.querySelectorAll('button')] : [];
    (buttons.find((b) => b.textContent === keep.text) ?? buttons[0] ?? /** @type {HTMLElement} */ ($('view-h')))?.focus();
  }
}
