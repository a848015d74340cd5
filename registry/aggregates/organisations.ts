// Organisations and sites. Anyone may read them; admins manage organisations; coordinators
// manage their own organisation's sites.

import type { Static } from 'typebox';
import { conflict, forbidden } from '../../lib/errors.ts';
import { type Actor, mustBeOwnOrg, mustHaveRole } from '../access.ts';
import { audit, checkedSlug, type RegistryContext, write } from '../context.ts';
import { newId } from '../ids.ts';
import { type ListOptions, page } from '../rows.ts';
import type { NewOrganisation, NewSite, Organisation, OrganisationPatch, Site, SitePatch } from '../schemas/index.ts';
import { organisations, sites } from '../tables.ts';

export async function createOrganisation(ctx: RegistryContext, a: Actor, body: Static<typeof NewOrganisation>): Promise<Organisation> {
  mustHaveRole(a, ['admin'], 'create organisations');
  const id = body.id ? checkedSlug('organisation', body.id) : newId('org');
  return write(ctx, async (q) => {
    if (await organisations.find(q, id)) throw conflict(`organisation '${id}' already exists`);
    const now = Date.now();
    const org: Organisation = { id, name: body.name, type: body.type, createdAt: now, updatedAt: now };
    await organisations.insert(q, org);
    await audit(q, a, 'create', 'organisation', id, { name: org.name, type: org.type });
    return org;
  });
}

export async function listOrganisations(ctx: RegistryContext, o: ListOptions & { type?: string | undefined }): Promise<Organisation[]> {
  return page(await organisations.list(ctx.db, [['type', o.type]]), o);
}

export async function updateOrganisation(
  ctx: RegistryContext,
  a: Actor,
  id: string,
  patch: Static<typeof OrganisationPatch>,
): Promise<Organisation> {
  mustHaveRole(a, ['admin'], 'change organisations');
  return write(ctx, async (q) => {
    const cur = await organisations.get(q, id, 'organisation');
    const changed = await organisations.update(q, cur, patch, Date.now());
    if (Object.keys(changed).length) await audit(q, a, 'update', 'organisation', id, { changed });
    return organisations.get(q, id, 'organisation');
  });
}

export async function createSite(ctx: RegistryContext, a: Actor, body: Static<typeof NewSite>): Promise<Site> {
  mustHaveRole(a, ['admin', 'coordinator'], 'create sites');
  const id = body.id ? checkedSlug('site', body.id) : newId('site');
  let orgId = body.orgId ?? null;
  if (a.role === 'coordinator') {
    orgId ??= a.orgId;
    mustBeOwnOrg(a, orgId, `site '${id}'`);
  }
  return write(ctx, async (q) => {
    if (await sites.find(q, id)) throw conflict(`site '${id}' already exists`);
    if (orgId) await organisations.get(q, orgId, 'organisation', 400);
    const now = Date.now();
    const site: Site = {
      id,
      orgId,
      name: body.name,
      facilities: body.facilities ?? [],
      description: body.description ?? null,
      createdAt: now,
      updatedAt: now,
    };
    await sites.insert(q, site);
    await audit(q, a, 'create', 'site', id, { orgId, name: site.name });
    return site;
  });
}

export async function listSites(ctx: RegistryContext, o: ListOptions & { orgId?: string | undefined }): Promise<Site[]> {
  return page(await sites.list(ctx.db, [['org_id', o.orgId]]), o);
}

export async function updateSite(ctx: RegistryContext, a: Actor, id: string, patch: Static<typeof SitePatch>): Promise<Site> {
  mustHaveRole(a, ['admin', 'coordinator'], 'change sites');
  if (a.role !== 'admin' && patch.orgId !== undefined) throw forbidden('only an admin may move a site to another organisation');
  return write(ctx, async (q) => {
    const cur = await sites.get(q, id, 'site');
    mustBeOwnOrg(a, cur.orgId, `site '${id}'`);
    if (patch.orgId) await organisations.get(q, patch.orgId, 'organisation', 400);
    const changed = await sites.update(q, cur, patch, Date.now());
    if (Object.keys(changed).length) await audit(q, a, 'update', 'site', id, { changed });
    return sites.get(q, id, 'site');
  });
}
