// Trials: a coordinator creates and changes their own organisation's, at sites their
// organisation owns; everyone else reads (a coordinator: their own organisation's only).

import type { Static } from 'typebox';
import { badRequest, conflict, forbidden, notFound } from '../../lib/errors.ts';
import { type Actor, mustBeOwnOrg, mustHaveRole } from '../access.ts';
import { audit, checkedSlug, checkInterval, type RegistryContext, write } from '../context.ts';
import type { Queryable } from '../db.ts';
import { newId } from '../ids.ts';
import { type ListOptions, page, same } from '../rows.ts';
import { type NewTrial, ROLES, type Trial, type TrialPatch } from '../schemas/index.ts';
import { organisations, sites, trials } from '../tables.ts';

async function siteIdsOf(q: Queryable, id: string): Promise<string[]> {
  const rows = await q.all<{ site_id: string }>('SELECT site_id FROM trial_sites WHERE trial_id = ? ORDER BY site_id', [id]);
  return rows.map((r) => r.site_id);
}

/** The trial with its sites, or undefined. */
export async function findTrial(q: Queryable, id: string): Promise<Trial | undefined> {
  const t = await trials.find(q, id);
  return t ? { ...t, siteIds: await siteIdsOf(q, id) } : undefined;
}

async function checkTrialSites(q: Queryable, a: Actor, siteIds: string[]): Promise<void> {
  for (const s of siteIds) {
    const site = await sites.get(q, s, 'site', 400);
    if (a.role === 'coordinator' && site.orgId !== a.orgId)
      throw forbidden(
        `site '${s}' belongs to organisation '${site.orgId ?? 'none'}'; ` +
          "a coordinator may only add their own organisation's sites to a trial",
      );
  }
}

async function setTrialSites(q: Queryable, id: string, siteIds: string[]): Promise<void> {
  await q.run('DELETE FROM trial_sites WHERE trial_id = ?', [id]);
  for (const s of siteIds) await q.run('INSERT INTO trial_sites (trial_id, site_id) VALUES (?, ?)', [id, s]);
}

export async function createTrial(ctx: RegistryContext, a: Actor, body: Static<typeof NewTrial>): Promise<Trial> {
  mustHaveRole(a, ['admin', 'coordinator'], 'create trials');
  const id = body.id ? checkedSlug('trial', body.id) : newId('trial');
  const orgId = body.orgId ?? (a.role === 'coordinator' ? a.orgId : undefined);
  if (!orgId) throw badRequest('orgId: the coordinating organisation is required');
  mustBeOwnOrg(a, orgId, `trial '${id}'`);
  checkInterval(`trial '${id}'`, body.startAt, body.endAt);
  const siteIds = [...new Set(body.siteIds ?? [])].sort();
  return write(ctx, async (q) => {
    if (await trials.find(q, id)) throw conflict(`trial '${id}' already exists`);
    await organisations.get(q, orgId, 'organisation', 400);
    await checkTrialSites(q, a, siteIds);
    const now = Date.now();
    const trial: Trial = {
      id,
      orgId,
      name: body.name,
      phase: body.phase,
      protocolVersion: body.protocolVersion,
      startAt: body.startAt,
      endAt: body.endAt ?? null,
      siteIds,
      createdAt: now,
      updatedAt: now,
    };
    await trials.insert(q, trial);
    await setTrialSites(q, id, siteIds);
    await audit(q, a, 'create', 'trial', id, { orgId, phase: trial.phase, protocolVersion: trial.protocolVersion, siteIds });
    return trial;
  });
}

export async function getTrial(ctx: RegistryContext, a: Actor, id: string): Promise<Trial> {
  mustHaveRole(a, ROLES, 'read trials');
  const t = await findTrial(ctx.db, id);
  if (!t) throw notFound(`trial '${id}' does not exist`);
  if (a.role === 'coordinator') mustBeOwnOrg(a, t.orgId, `trial '${id}'`);
  return t;
}

export async function listTrials(ctx: RegistryContext, a: Actor, o: ListOptions & { orgId?: string | undefined }): Promise<Trial[]> {
  const orgId = a.role === 'coordinator' ? (a.orgId ?? '') : o.orgId;
  if (a.role === 'coordinator' && o.orgId && o.orgId !== a.orgId) return [];
  const rows = await trials.list(ctx.db, [['org_id', orgId]]);
  const links = await ctx.db.all<{ trial_id: string; site_id: string }>('SELECT trial_id, site_id FROM trial_sites ORDER BY site_id');
  return page(
    rows.map((t) => ({ ...t, siteIds: links.filter((l) => l.trial_id === t.id).map((l) => l.site_id) })),
    o,
  );
}

export async function updateTrial(ctx: RegistryContext, a: Actor, id: string, patch: Static<typeof TrialPatch>): Promise<Trial> {
  mustHaveRole(a, ['admin', 'coordinator'], 'change trials');
  return write(ctx, async (q) => {
    const cur = await findTrial(q, id);
    if (!cur) throw notFound(`trial '${id}' does not exist`);
    mustBeOwnOrg(a, cur.orgId, `trial '${id}'`);
    checkInterval(`trial '${id}'`, patch.startAt ?? cur.startAt, patch.endAt === undefined ? cur.endAt : patch.endAt);
    const { siteIds, ...rest } = patch;
    const changed: Record<string, [unknown, unknown]> = await trials.update(q, cur, rest, Date.now());
    if (siteIds) {
      const next = [...new Set(siteIds)].sort();
      if (!same(next, cur.siteIds)) {
        await checkTrialSites(
          q,
          a,
          next.filter((s) => !cur.siteIds.includes(s)),
        );
        await setTrialSites(q, id, next);
        await q.run('UPDATE trials SET updated_at = ? WHERE id = ?', [Date.now(), id]);
        changed.siteIds = [cur.siteIds, next];
      }
    }
    if (Object.keys(changed).length) await audit(q, a, 'update', 'trial', id, { changed });
    return (await findTrial(q, id))!;
  });
}
