// Fleet: sites at a glance, gateways, and every device with filters that survive the refresh.

import { card, h, status, table, time } from './dom.js';
import { api, state } from './session.js';

export async function fleetView() {
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
    const s = /** @type {HTMLSelectElement} */ (siteFilter).value;
    state.filters.site = s;
    const st = /** @type {HTMLSelectElement} */ (statusFilter).value;
    state.filters.status = st;
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
