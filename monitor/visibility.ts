// The checks monitoring's routes make on what a caller may touch, beyond the roles a route
// names: a coordinator works within their organisation's trials and sites. What a caller may SEE
// is computed by RegistryView.access (monitor/registry-view.ts); these turn it into 403s.

import { ApiError } from '../lib/errors.ts';
import type { Alert } from './alerts.ts';
import type { Access, RegistryView } from './registry-view.ts';

const DAY = 86_400_000;

/** ApiError 403 unless the site is among those the caller may see. */
export function assertSiteVisible(access: Access, site: string): void {
  if (access.sites && !access.sites.has(site)) throw new ApiError(403, `site '${site}' is outside your organisation's trials`);
}

/** ApiError 403 when the caller is limited to some sites and the trial is not their organisation's. */
export function assertTrialOwned(view: RegistryView, access: Access, trial: string): void {
  if (access.sites && view.snapshot.trials.find((t) => t.id === trial)?.orgId !== access.actor.orgId)
    throw new ApiError(403, `trial '${trial}' is not one of your organisation's trials`);
}

/** The alert, or ApiError 403 when it belongs to a site outside the caller's. */
export function visibleAlert(access: Access, alert: Alert): Alert {
  if (access.sites && !access.sites.has(alert.site))
    throw new ApiError(403, `alert '${alert.id}' belongs to site '${alert.site}', outside your organisation's trials`);
  return alert;
}

/** A threshold scope (`default`, `trial:<id>`, `site:<id>`) the caller may change; else ApiError 403. */
export function assertScopeWritable(view: RegistryView, access: Access, scope: string): void {
  if (!access.sites) return;
  if (scope === 'default') throw new ApiError(403, 'only an admin may change the default thresholds');
  if (scope.startsWith('site:')) assertSiteVisible(access, scope.slice(5));
  if (scope.startsWith('trial:')) assertTrialOwned(view, access, scope.slice(6));
}

/** The period a query asks about: `to` defaults to now, `from` to `days` before it; at most 400 days. */
export function queryPeriod(
  q: { from?: number | undefined; to?: number | undefined },
  now: number,
  days: number,
): { from: number; to: number } {
  const to = q.to ?? now;
  const from = q.from ?? to - days * DAY;
  if (to <= from) throw new ApiError(400, '`to` must be after `from`');
  if (to - from > 400 * DAY) throw new ApiError(400, 'at most 400 days at once');
  return { from, to };
}
