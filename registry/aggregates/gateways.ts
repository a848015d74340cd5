// Gateways and their MQTT credentials. Coordinators provision them at their sites; the operating
// company sees, revokes and pairs its own. The password is shown once; only its scrypt hash is kept.

import type { Static } from 'typebox';
import { GENERATED_SECRET_COST, type GatewayCredential, gatewayUsername, hashPassword, randomPassword } from '../../broker/index.ts';
import { badRequest, conflict, forbidden, unavailable } from '../../lib/errors.ts';
import { type Actor, mustBeSiteInScope, mustHaveRole, type Scope, scopeOf } from '../access.ts';
import { audit, checkedSlug, iso, type RegistryContext, write } from '../context.ts';
import type { Row } from '../db.ts';
import { type ListOptions, page } from '../rows.ts';
import type { Gateway, GatewayPatch, GatewayWithCredentials, NewGateway, Role } from '../schemas/index.ts';
import { gateways, homes, organisations, sites } from '../tables.ts';

const READERS: readonly Role[] = ['admin', 'coordinator', 'company'];

function isVisible(s: Scope, g: Gateway): boolean {
  switch (s.actor.role) {
    case 'admin':
      return true;
    case 'coordinator':
      return s.sites!.has(g.siteId);
    case 'company':
      return g.orgId !== null && g.orgId === s.actor.orgId;
    default:
      return false;
  }
}

/**
 * Provisions a gateway and returns its MQTT credentials. An existing, unrevoked gateway is refused
 * unless `rotate`; a revoked one is re-issued. `createSite` (the CLI's `gateway add`) creates a
 * missing site on the fly.
 */
export async function createGateway(
  ctx: RegistryContext,
  a: Actor,
  body: Static<typeof NewGateway>,
  opts: { rotate?: boolean; createSite?: boolean },
): Promise<GatewayWithCredentials> {
  mustHaveRole(a, ['admin', 'coordinator'], 'provision gateways');
  checkedSlug('site', body.siteId);
  checkedSlug('gateway', body.gateway);
  const username = gatewayUsername(body.siteId, body.gateway);
  const password = randomPassword();
  const hash = await hashPassword(password, GENERATED_SECRET_COST); // before the transaction: scrypt takes a few ms
  let replaced = false;
  const gw = await write(ctx, async (q) => {
    if (!(await sites.find(q, body.siteId))) {
      if (!opts.createSite) throw badRequest(`site '${body.siteId}' does not exist`);
      const now = Date.now();
      const site = { id: body.siteId, orgId: null, name: body.siteId, facilities: [], description: null, createdAt: now, updatedAt: now };
      await sites.insert(q, site);
      await audit(q, a, 'create', 'site', body.siteId, { reason: 'gateway add' });
    }
    mustBeSiteInScope(await scopeOf(q, a), body.siteId, `gateway '${username}'`);
    if (body.homeId) {
      const home = await homes.get(q, body.homeId, 'home', 400);
      if (home.siteId !== body.siteId) throw badRequest(`home '${body.homeId}' is at site '${home.siteId}', not '${body.siteId}'`);
    }
    if (body.orgId) await organisations.get(q, body.orgId, 'organisation', 400);
    const existing = await gateways.find(q, username);
    const now = Date.now();
    if (existing) {
      if (existing.revokedAt === null && !opts.rotate)
        throw conflict(
          `gateway '${username}' already exists; rotate its credentials (POST /gateways/${username}/credentials) if its password is lost`,
        );
      await q.run('UPDATE gateways SET password_hash = ?, revoked_at = NULL, updated_at = ? WHERE id = ?', [hash, now, username]);
      replaced = true;
      const patch: Record<string, unknown> = {};
      if (body.homeId !== undefined) patch.homeId = body.homeId;
      if (body.orgId !== undefined) patch.orgId = body.orgId;
      await gateways.update(q, existing, patch, now);
      await audit(q, a, existing.revokedAt === null ? 'rotate-credentials' : 'reissue', 'gateway', username, patch);
    } else {
      // Not gateways.insert: the password hash is a column the entity never carries.
      await q.run(
        'INSERT INTO gateways (id, site_id, gateway, home_id, org_id, password_hash, created_at, updated_at) ' +
          'VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        [username, body.siteId, body.gateway, body.homeId ?? null, body.orgId ?? null, hash, now, now],
      );
      await audit(q, a, 'create', 'gateway', username, {
        siteId: body.siteId,
        gateway: body.gateway,
        homeId: body.homeId ?? null,
        orgId: body.orgId ?? null,
      });
    }
    return gateways.get(q, username, 'gateway');
  });
  // A rotated password ends the session opened with the old one (after the commit, so the
  // reconnect is checked against the new hash): a leaked credential stops working at once.
  if (replaced) ctx.hooks.disconnect?.(username);
  return { gateway: gw, credentials: { username, password } };
}

export async function getGateway(ctx: RegistryContext, a: Actor, id: string): Promise<Gateway> {
  mustHaveRole(a, READERS, 'read gateways');
  const g = await gateways.get(ctx.db, id, 'gateway');
  if (!isVisible(await scopeOf(ctx.db, a), g)) throw forbidden(`gateway '${id}' is not yours to see`);
  return g;
}

export async function rotateGateway(ctx: RegistryContext, a: Actor, id: string): Promise<GatewayWithCredentials> {
  const g = await getGateway(ctx, a, id);
  mustHaveRole(a, ['admin', 'coordinator'], 'rotate gateway credentials');
  return createGateway(ctx, a, { siteId: g.siteId, gateway: g.gateway }, { rotate: true });
}

export async function listGateways(ctx: RegistryContext, a: Actor, o: ListOptions & { siteId?: string | undefined }): Promise<Gateway[]> {
  mustHaveRole(a, READERS, 'read gateways');
  const s = await scopeOf(ctx.db, a);
  const rows = await gateways.list(ctx.db, [['site_id', o.siteId]]);
  return page(
    rows.filter((g) => isVisible(s, g)),
    o,
  );
}

export async function updateGateway(ctx: RegistryContext, a: Actor, id: string, patch: Static<typeof GatewayPatch>): Promise<Gateway> {
  mustHaveRole(a, ['admin', 'coordinator'], 'change gateways');
  return write(ctx, async (q) => {
    const cur = await gateways.get(q, id, 'gateway');
    if (!isVisible(await scopeOf(q, a), cur)) throw forbidden(`gateway '${id}' is not yours to change`);
    if (patch.homeId) {
      const home = await homes.get(q, patch.homeId, 'home', 400);
      if (home.siteId !== cur.siteId) throw badRequest(`home '${patch.homeId}' is at site '${home.siteId}', not '${cur.siteId}'`);
    }
    if (patch.orgId) await organisations.get(q, patch.orgId, 'organisation', 400);
    const changed = await gateways.update(q, cur, patch, Date.now());
    if (Object.keys(changed).length) await audit(q, a, 'update', 'gateway', id, { changed });
    return gateways.get(q, id, 'gateway');
  });
}

export async function revokeGateway(ctx: RegistryContext, a: Actor, id: string): Promise<{ gateway: Gateway; disconnected: number }> {
  mustHaveRole(a, READERS, 'revoke gateways');
  const gw = await write(ctx, async (q) => {
    const cur = await gateways.get(q, id, 'gateway');
    if (!isVisible(await scopeOf(q, a), cur)) throw forbidden(`gateway '${id}' is not yours to revoke`);
    if (cur.revokedAt !== null) throw conflict(`gateway '${id}' was already revoked on ${iso(cur.revokedAt)}`);
    const now = Date.now();
    await q.run('UPDATE gateways SET revoked_at = ?, updated_at = ? WHERE id = ?', [now, now, id]);
    await audit(q, a, 'revoke', 'gateway', id);
    return gateways.get(q, id, 'gateway');
  });
  // After the commit: a reconnect racing this is refused by the credential check.
  const disconnected = ctx.hooks.disconnect?.(id) ?? 0;
  return { gateway: gw, disconnected };
}

export async function permitJoin(ctx: RegistryContext, a: Actor, id: string, seconds: number): Promise<unknown> {
  mustHaveRole(a, READERS, 'open a gateway for pairing');
  const g = await getGateway(ctx, a, id);
  if (g.revokedAt !== null) throw conflict(`gateway '${id}' is revoked`);
  const command = ctx.hooks.command;
  if (!command) throw unavailable('commands need the broker in this process (testbed up or testbed broker) with its admin account');
  await write(ctx, (q) => audit(q, a, 'permit-join', 'gateway', id, { seconds }));
  return command(g.siteId, g.gateway, 'permit_join', { seconds });
}

export async function gatewayCredential(ctx: RegistryContext, username: string): Promise<GatewayCredential | undefined> {
  const r = await ctx.db.get<Row>('SELECT site_id, gateway, id, password_hash, revoked_at FROM gateways WHERE id = ?', [username]);
  return r
    ? {
        site: String(r.site_id),
        gateway: String(r.gateway),
        username: String(r.id),
        passwordHash: String(r.password_hash),
        revokedAt: r.revoked_at === null ? null : Number(r.revoked_at),
      }
    : undefined;
}

export async function touchGateway(ctx: RegistryContext, username: string, at: number): Promise<void> {
  await ctx.db.run('UPDATE gateways SET last_seen_at = ? WHERE id = ?', [at, username]);
}
