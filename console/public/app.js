// The testbed console: sign in with an API token, then fleet, live alerts, completeness, site
// comparison and a device's history. Plain ES modules, no build, no framework; every element is
// created with h() (text is never parsed as HTML). The API enforces roles; views a role may not
// use are not offered, and a 403 is shown as such.

import { readSse } from './sse.js';

const API = '/api/v1';
const DAY = 86_400_000;

/** Views per role, as docs/monitoring.md's role table allows them. */
const VIEWS = {
  admin: ['fleet', 'alerts', 'completeness', 'compare'],
  coordinator: ['fleet', 'alerts', 'completeness', 'compare'],
  company: ['fleet', 'compare'],
  researcher: ['completeness', 'compare'],
};

/** @type {{ token: string, me: { id: string, role: keyof typeof VIEWS, orgId: string | null } | null, alerts: Map<string, any>, stream: AbortController | null, flash: Set<string>, filters: { site: string, status: string } }} */
const state = {
  token: sessionStorage.getItem('testbed.token') ?? '',
  me: null,
  alerts: new Map(),
  stream: null,
  flash: new Set(),
  filters: { site: '', status: '' },
};

// ── helpers ──────────────────────────────────────────────────────────────────────────────────

/**
 * @param {string} tag
 * @param {Record<string, any> | null} [attrs]
 * @param {...any} children
 * @returns {HTMLElement}
 */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'style')
      Object.assign(el.style, v); // CSSOM, allowed by the CSP (style attributes are not)
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

class ApiError extends Error {
  /** @param {number} status @param {string} message */
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** @param {string} path @param {RequestInit & { json?: unknown }} [init] */
async function api(path, init = {}) {
  const headers = { authorization: `Bearer ${state.token}`, ...(init.json !== undefined ? { 'content-type': 'application/json' } : {}) };
  const res = await fetch(API + path, { ...init, headers, body: init.json !== undefined ? JSON.stringify(init.json) : init.body });
  const body = res.headers.get('content-type')?.includes('json') ? await res.json() : await res.text();
  if (!res.ok) throw new ApiError(res.status, typeof body === 'object' && body?.message ? body.message : `HTTP ${res.status}`);
  return body;
}

const pct = (/** @type {number | null | undefined} */ x, d = 0) =>
  x === null || x === undefined || Number.isNaN(x) ? '–' : `${(x * 100).toFixed(d)} %`;
const num = (/** @type {number | null | undefined} */ x, d = 1) => (x === null || x === undefined ? '–' : x.toFixed(d));
function ago(/** @type {number | null} */ t) {
  if (!t) return '–';
  const s = Math.round((Date.now() - t) / 1000);
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}
const time = (/** @type {number} */ t) => h('time', { datetime: new Date(t).toISOString(), title: new Date(t).toLocaleString() }, ago(t));
const status = (/** @type {string} */ s) => h('span', { class: `pill s-${s}` }, s);

function problem(/** @type {unknown} */ err) {
  if (err instanceof ApiError && err.status === 403)
    return h('p', { class: 'notice' }, `Your role (${state.me?.role}) may not see this: ${err.message}`);
  return h('p', { class: 'error', role: 'alert' }, `Could not load: ${err instanceof Error ? err.message : String(err)}`);
}

/** @param {string} title @param {...any} body */
function card(title, ...body) {
  return h('section', { class: 'card', 'aria-label': title }, h('h3', null, title), ...body);
}

/** @param {string[]} head @param {any[][]} rows @param {string} caption */
function table(caption, head, rows) {
  return h(
    'table',
    null,
    h('caption', null, caption),
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        head.map((c) => h('th', { scope: 'col' }, c)),
      ),
    ),
    h(
      'tbody',
      null,
      rows.length
        ? rows.map((r) =>
            h(
              'tr',
              null,
              r.map((c, i) => (i === 0 ? h('th', { scope: 'row' }, c) : h('td', null, c))),
            ),
          )
        : h('tr', null, h('td', { colspan: head.length }, 'Nothing here.')),
    ),
  );
}

// ── sign in ──────────────────────────────────────────────────────────────────────────────────

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));

async function signIn(/** @type {string} */ token) {
  state.token = token.trim();
  state.me = await api('/me');
  sessionStorage.setItem('testbed.token', state.token);
  $('login').hidden = true;
  $('view').hidden = false;
  $('nav').hidden = false;
  $('who').hidden = false;
  $('who-text').textContent = `${state.me?.id} · ${state.me?.role}`;
  const allowed = VIEWS[state.me?.role ?? 'researcher'] ?? [];
  for (const a of /** @type {NodeListOf<HTMLAnchorElement>} */ (document.querySelectorAll('#nav a')))
    a.hidden = !allowed.includes(a.dataset.view ?? '');
  if (allowed.includes('alerts')) startAlerts();
  route();
}

function signOut() {
  sessionStorage.removeItem('testbed.token');
  state.stream?.abort();
  state.token = '';
  state.me = null;
  state.alerts.clear();
  location.hash = '';
  location.reload();
}

// ── routing ──────────────────────────────────────────────────────────────────────────────────

let renderSeq = 0;
async function route() {
  if (!state.me) return;
  const [name = '', arg = ''] = location.hash.slice(1).split('/').map(decodeURIComponent);
  const allowed = VIEWS[state.me.role] ?? [];
  const view = name === 'device' ? 'device' : allowed.includes(name) ? name : allowed[0];
  for (const a of /** @type {NodeListOf<HTMLAnchorElement>} */ (document.querySelectorAll('#nav a'))) {
    if (a.dataset.view === view) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const seq = ++renderSeq;
  const target = $('view');
  const title = {
    fleet: 'Fleet',
    alerts: 'Live alerts',
    completeness: 'Data completeness',
    compare: 'Site comparison',
    device: `Device ${arg}`,
  }[view ?? 'fleet'];
  document.title = `${title} · testbed console`;
  const body = h('div', { class: 'loading' }, 'Loading…');
  target.replaceChildren(h('h2', { id: 'view-h', tabindex: '-1' }, title), body);
  let content;
  try {
    content = await (view === 'alerts'
      ? alertsView()
      : view === 'completeness'
        ? completenessView()
        : view === 'compare'
          ? compareView()
          : view === 'device'
            ? deviceView(arg)
            : fleetView());
  } catch (err) {
    content = problem(err);
  }
  if (seq !== renderSeq) return;
  body.replaceWith(content);
}

// ── fleet ────────────────────────────────────────────────────────────────────────────────────

async function fleetView() {
  const [sites, devices, gateways] = await Promise.all([
    api('/sites?limit=500').catch(() => []),
    api('/monitor/devices'),
    api('/monitor/gateways'),
  ]);
  /** @type {Map<string, { devices: Record<string, number>, gateways: Record<string, number> }>} */
  const bySite = new Map();
  const site = (/** @type {string} */ s) => bySite.get(s) ?? bySite.set(s, { devices: {}, gateways: {} }).get(s);
  for (const s of sites) site(s.id);
  for (const d of devices.devices) {
    const x = site(d.site);
    x.devices[d.status] = (x.devices[d.status] ?? 0) + 1;
  }
  for (const g of gateways.gateways) {
    const x = site(g.site);
    x.gateways[g.status] = (x.gateways[g.status] ?? 0) + 1;
  }
  const names = new Map(sites.map((/** @type {any} */ s) => [s.id, s.name]));

  const siteCards = h(
    'div',
    { class: 'sites' },
    [...bySite.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([id, x]) =>
        h(
          'article',
          { class: 'site', 'aria-labelledby': `site-${id}` },
          h('h3', { id: `site-${id}` }, names.get(id) && names.get(id) !== id ? `${names.get(id)} (${id})` : id),
          h(
            'p',
            null,
            `Gateways: ${
              Object.entries(x.gateways)
                .map(([k, v]) => `${v} ${k}`)
                .join(', ') || 'none heard'
            }`,
          ),
          h(
            'p',
            null,
            `Devices: ${
              Object.entries(x.devices)
                .sort()
                .map(([k, v]) => `${v} ${k}`)
                .join(', ') || 'none heard'
            }`,
          ),
        ),
      ),
  );

  const siteFilter = h(
    'select',
    { id: 'f-site' },
    h('option', { value: '' }, 'all sites'),
    [...bySite.keys()].sort().map((s) => h('option', { value: s }, s)),
  );
  const statusFilter = h(
    'select',
    { id: 'f-status' },
    ['', 'problem', 'ok', 'late', 'silent', 'battery-low'].map((s) => h('option', { value: s }, s || 'any state')),
  );
  const devBox = h('div');
  const renderDevices = () => {
    const s = (state.filters.site = /** @type {HTMLSelectElement} */ (siteFilter).value),
      st = (state.filters.status = /** @type {HTMLSelectElement} */ (statusFilter).value);
    const rows = devices.devices.filter(
      (/** @type {any} */ d) => (!s || d.site === s) && (!st || (st === 'problem' ? d.status !== 'ok' : d.status === st)),
    );
    devBox.replaceChildren(
      table(
        `${rows.length} devices`,
        ['Device', 'Site', 'Home', 'Kind', 'State', 'Last reading', 'Battery', 'Cause'],
        rows.map((/** @type {any} */ d) => [
          h('a', { href: `#device/${encodeURIComponent(d.device)}` }, d.device),
          d.site,
          d.home ?? '–',
          d.kind,
          status(d.status),
          time(d.lastSeen),
          d.battery === null ? '–' : `${d.battery} %`,
          d.suppressed ? `suppressed: ${d.suppressed}` : (d.reason ?? d.cause ?? ''),
        ]),
      ),
    );
  };
  /** @type {HTMLSelectElement} */ (siteFilter).value = state.filters.site;
  /** @type {HTMLSelectElement} */ (statusFilter).value = state.filters.status;
  siteFilter.addEventListener('change', renderDevices);
  statusFilter.addEventListener('change', renderDevices);
  renderDevices();

  return h(
    'div',
    null,
    card('Sites', siteCards),
    card(
      'Gateways',
      table(
        `${gateways.gateways.length} gateways`,
        ['Gateway', 'Site', 'State', 'Outbox', 'Oldest queued', 'Last uplink', 'Why'],
        gateways.gateways.map((/** @type {any} */ g) => [
          g.gateway,
          g.site,
          status(g.status),
          g.outboxDepth ?? '–',
          g.outboxOldestAgeS === null ? '–' : `${Math.round(g.outboxOldestAgeS)} s`,
          time(g.lastUpAt),
          g.reasons.join('; '),
        ]),
      ),
    ),
    card(
      'Devices',
      h(
        'div',
        { class: 'filters' },
        h('label', { for: 'f-site' }, 'Site '),
        siteFilter,
        h('label', { for: 'f-status' }, ' State '),
        statusFilter,
      ),
      devBox,
    ),
  );
}

// ── a device's history ───────────────────────────────────────────────────────────────────────

async function deviceView(/** @type {string} */ id) {
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

// ── alerts, live ─────────────────────────────────────────────────────────────────────────────

async function startAlerts() {
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
async function alertsView() {
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
      'New alerts appear here as they are raised (server-sent events). Acknowledge stops escalation; label each as a true or false alarm — the false-alarm rate is trial evidence.',
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

// ── completeness ─────────────────────────────────────────────────────────────────────────────

async function completenessView() {
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
    `Overall ${pct(res.summary.completeness, 1)} over ${res.summary.participantDays} participant-days (last 7 days); ${res.summary.lost} readings lost in transit. Hover or focus a cell for its slots and reasons.`,
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

// ── comparison ───────────────────────────────────────────────────────────────────────────────

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

async function compareView() {
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
          ['Metric', ...sites.map((/** @type {any} */ s) => `${s.site} (${s.participants} participants)`)],
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

// ── start ────────────────────────────────────────────────────────────────────────────────────

$('login-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const input = /** @type {HTMLInputElement} */ ($('token'));
  $('login-error').textContent = '';
  try {
    await signIn(input.value);
    input.value = '';
  } catch (err) {
    state.token = '';
    $('login-error').textContent =
      err instanceof ApiError && err.status === 401
        ? 'That token was not accepted (unknown, revoked or mistyped).'
        : `Sign-in failed: ${err instanceof Error ? err.message : String(err)}`;
    input.focus();
  }
});
$('logout').addEventListener('click', signOut);
window.addEventListener('hashchange', () => {
  void route().then(() => $('view-h')?.focus());
});
// Refresh the open view every 30 s (alerts are live already).
setInterval(() => {
  if (state.me && !location.hash.startsWith('#alerts') && !document.activeElement?.closest('select, input, details')) void route();
}, 30_000);

if (state.token)
  signIn(state.token).catch(() => {
    sessionStorage.removeItem('testbed.token');
    state.token = '';
  });
