// Homes: coordinators manage those at their sites; researchers read them; companies never see
// them (a home is one step from a person).

import type { Static } from 'typebox';
import { conflict } from '../../lib/errors.ts';
import { type Actor, mustBeSiteInScope, mustHaveRole, scopeOf } from '../access.ts';
import { audit, checkedSlug, type RegistryContext, write } from '../context.ts';
import { newId } from '../ids.ts';
import { type ListOptions, page } from '../rows.ts';
import type { Home, HomePatch, NewHome, Role } from '../schemas/index.ts';
import { homes, sites } from '../tables.ts';

const READERS: readonly Role[] = ['admin', 'coordinator', 'researcher'];

export async function createHome(ctx: RegistryContext, a: Actor, body: Static<typeof NewHome>): Promise<Home> {
  mustHaveRole(a, ['admin', 'coordinator'], 'create homes');
  const id = body.id ? checkedSlug('home', body.id) : newId('home');
  return write(ctx, async (q) => {
    if (await homes.find(q, id)) throw conflict(`home '${id}' already exists`);
    await sites.get(q, body.siteId, 'site', 400);
    mustBeSiteInScope(await scopeOf(q, a), body.siteId, `home '${id}'`);
    const now = Date.now();
    const home: Home = { id, siteId: body.siteId, label: body.label ?? null, createdAt: now, updatedAt: now };
    await homes.insert(q, home);
    await audit(q, a, 'create', 'home', id, { siteId: home.siteId });
    return home;
  });
}

export async function getHome(ctx: RegistryContext, a: Actor, id: string): Promise<Home> {
  mustHaveRole(a, READERS, 'read homes');
  const h = await homes.get(ctx.db, id, 'home');
  mustBeSiteInScope(await scopeOf(ctx.db, a), h.siteId, `home '${id}'`);
  return h;
}

export async function listHomes(ctx: RegistryContext, a: Actor, o: ListOptions & { siteId?: string | undefined }): Promise<Home[]> {
  mustHaveRole(a, READERS, 'read homes');
  const s = await scopeOf(ctx.db, a);
  const rows = await homes.list(ctx.db, [['site_id', o.siteId]]);
  return page(
    rows.filter((h) => !s.sites || s.sites.has(h.siteId)),
    o,
  );
}

export async function updateHome(ctx: RegistryContext, a: Actor, id: string, patch: Static<typeof HomePatch>): Promise<Home> {
  mustHaveRole(a, ['admin', 'coordinator'], 'change homes');
  return write(ctx, async (q) => {
    const cur = await homes.get(q, id, 'home');
    mustBeSiteInScope(await scopeOf(q, a), cur.siteId, `home '${id}'`);
    const changed = await homes.update(q, cur, patch, Date.now());
    if (Object.keys(changed).length) await audit(q, a, 'update', 'home', id, { changed });
    return homes.get(q, id, 'home');
  });
}
