// Who may do what, as the aggregates share it. The role rules (registry.ts's header has them in
// full) are checked here and not only by the HTTP layer, so that the CLI, the trial file and any
// other caller meet the same line.

import { forbidden } from '../lib/errors.ts';
import type { Queryable } from './db.ts';
import type { Role } from './schemas/index.ts';

export interface Actor {
  /** A user id, or `cli:<os user>` for the command line. */
  id: string;
  role: Role;
  orgId: string | null;
  tokenId?: string | null;
}

/** What an actor may reach: for coordinators, their organisation's trials and the sites in scope; null means no limit. */
export interface Scope {
  actor: Actor;
  trials: Set<string> | null;
  sites: Set<string> | null;
}

/** A coordinator's sites: those their organisation owns and those of its trials. */
export async function scopeOf(q: Queryable, a: Actor): Promise<Scope> {
  if (a.role !== 'coordinator') return { actor: a, trials: null, sites: null };
  const org = a.orgId ?? '';
  const trials = (await q.all<{ id: string }>('SELECT id FROM trials WHERE org_id = ?', [org])).map((r) => r.id);
  const sites = (
    await q.all<{ id: string }>(
      'SELECT id FROM sites WHERE org_id = ? UNION ' +
        'SELECT ts.site_id AS id FROM trial_sites ts JOIN trials t ON t.id = ts.trial_id WHERE t.org_id = ?',
      [org, org],
    )
  ).map((r) => r.id);
  return { actor: a, trials: new Set(trials), sites: new Set(sites) };
}

/** ApiError 403 unless the actor's role is one of `allowed`. */
export function mustHaveRole(a: Actor, allowed: readonly Role[], what: string): void {
  if (!allowed.includes(a.role)) throw forbidden(`role '${a.role}' may not ${what}`);
}

export function mustBeSiteInScope(s: Scope, siteId: string, what: string): void {
  if (s.sites && !s.sites.has(siteId)) throw forbidden(`${what}: site '${siteId}' is outside your organisation's trials`);
}

export function mustBeTrialInScope(s: Scope, trialId: string, what: string): void {
  if (s.trials && !s.trials.has(trialId)) throw forbidden(`${what}: trial '${trialId}' is not one of your organisation's trials`);
}

/** ApiError 403 unless the actor is an admin or belongs to `orgId`. */
export function mustBeOwnOrg(a: Actor, orgId: string | null, what: string): void {
  if (a.role !== 'admin' && orgId !== a.orgId)
    throw forbidden(`${what}: it belongs to organisation '${orgId ?? 'none'}', not yours ('${a.orgId ?? 'none'}')`);
}

/** The command line acts as an admin, audited under the OS user's name. */
export function cliActor(): Actor {
  return { id: `cli:${process.env.USER ?? process.env.LOGNAME ?? 'unknown'}`, role: 'admin', orgId: null, tokenId: null };
}
