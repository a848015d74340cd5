// The signed-in session: the token, who it is, what they may see, and the one way the views
// call the API (with the bearer token; a refusal becomes an ApiError with the server's message).

import { h } from './dom.js';

export const API = '/api/v1';

/** Views per role, as docs/monitoring.md's role table allows them. */
export const VIEWS = {
  admin: ['fleet', 'alerts', 'completeness', 'compare'],
  coordinator: ['fleet', 'alerts', 'completeness', 'compare'],
  company: ['fleet', 'compare'],
  researcher: ['completeness', 'compare'],
};

/**
 * @typedef {{ id: string, role: keyof typeof VIEWS, orgId: string | null }} Me
 * @type {{ token: string, me: Me | null, alerts: Map<string, any>, stream: AbortController | null,
 *   flash: Set<string>, filters: { site: string, status: string } }}
 */
export const state = {
  token: sessionStorage.getItem('testbed.token') ?? '',
  me: null,
  alerts: new Map(),
  stream: null,
  flash: new Set(),
  filters: { site: '', status: '' },
};

export class ApiError extends Error {
  /** @param {number} status @param {string} message */
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** @param {string} path @param {RequestInit & { json?: unknown }} [init] */
export async function api(path, init = {}) {
  const headers = { authorization: `Bearer ${state.token}`, ...(init.json !== undefined ? { 'content-type': 'application/json' } : {}) };
  const res = await fetch(API + path, { ...init, headers, body: init.json !== undefined ? JSON.stringify(init.json) : init.body });
  const body = res.headers.get('content-type')?.includes('json') ? await res.json() : await res.text();
  if (!res.ok) throw new ApiError(res.status, typeof body === 'object' && body?.message ? body.message : `HTTP ${res.status}`);
  return body;
}

export function problem(/** @type {unknown} */ err) {
  if (err instanceof ApiError && err.status === 403)
    return h('p', { class: 'notice' }, `Your role (${state.me?.role}) may not see this: ${err.message}`);
  return h('p', { class: 'error', role: 'alert' }, `Could not load: ${err instanceof Error ? err.message : String(err)}`);
}
