// DOM and formatting helpers shared by the views. Every element is created with h(): text is
// never parsed as HTML.

export const DAY = 86_400_000;

/**
 * @param {string} tag
 * @param {Record<string, any> | null} [attrs]
 * @param {...any} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs, ...children) {
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

export const pct = (/** @type {number | null | undefined} */ x, d = 0) =>
  x === null || x === undefined || Number.isNaN(x) ? '–' : `${(x * 100).toFixed(d)} %`;
export const num = (/** @type {number | null | undefined} */ x, d = 1) => (x === null || x === undefined ? '–' : x.toFixed(d));
export function ago(/** @type {number | null} */ t) {
  if (!t) return '–';
  const s = Math.round((Date.now() - t) / 1000);
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}
export const time = (/** @type {number} */ t) =>
  h('time', { datetime: new Date(t).toISOString(), title: new Date(t).toLocaleString() }, ago(t));
export const status = (/** @type {string} */ s) => h('span', { class: `pill s-${s}` }, s);

/** @param {string} title @param {...any} body */
export function card(title, ...body) {
  return h('section', { class: 'card', 'aria-label': title }, h('h3', null, title), ...body);
}

/** @param {string[]} head @param {any[][]} rows @param {string} caption */
export function table(caption, head, rows) {
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

export const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
