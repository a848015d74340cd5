// The testbed console: sign in with an API token, then fleet, live alerts, completeness, site
// comparison and a device's history. Plain ES modules, no build, no framework; every element is
// created with h() (text is never parsed as HTML). The API enforces roles; views a role may not
// use are not offered, and a 403 is shown as such.

import { alertsView, startAlerts } from './alerts.js';
import { compareView } from './compare.js';
import { completenessView } from './completeness.js';
import { deviceView } from './device.js';
import { $, h } from './dom.js';
import { fleetView } from './fleet.js';
import { ApiError, VIEWS, api, problem, state } from './session.js';

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
