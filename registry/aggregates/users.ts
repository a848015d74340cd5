// Users and API tokens, managed by admins. A token looks like `tb1.<token id>.<secret>`: the id
// finds the row, the secret (32 random bytes, base64url) is checked against its SHA-256. A random
// 256-bit secret needs no slow hash: there is nothing to guess. The token is shown once.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Static } from 'typebox';
import { badRequest, conflict, notFound } from '../../lib/errors.ts';
import { type Actor, mustHaveRole } from '../access.ts';
import { audit, type RegistryContext, write } from '../context.ts';
import type { Row } from '../db.ts';
import { newId } from '../ids.ts';
import { type ListOptions, page } from '../rows.ts';
import type { IssuedToken, NewToken, NewUser, Role, Token, User, UserPatch } from '../schemas/index.ts';
import { organisations, tokens, users } from '../tables.ts';

const TOKEN_PATTERN = /^tb1\.(tok-[0-9a-z]{10})\.([A-Za-z0-9_-]{43})$/;
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** How often a token's last_used_at is written at most: once a minute is precise enough, and spares a write per request. */
const TOUCH_EVERY_MS = 60_000;

export async function createUser(ctx: RegistryContext, a: Actor, body: Static<typeof NewUser>): Promise<User> {
  mustHaveRole(a, ['admin'], 'create users');
  if ((body.role === 'coordinator' || body.role === 'company') && !body.orgId)
    throw badRequest(`orgId: a ${body.role} belongs to an organisation`);
  return write(ctx, async (q) => {
    if (body.orgId) {
      const org = await organisations.get(q, body.orgId, 'organisation', 400);
      if (body.role === 'company' && org.type !== 'company') throw badRequest(`organisation '${org.id}' is a ${org.type}, not a company`);
    }
    const now = Date.now();
    const u: User = {
      id: newId('usr'),
      name: body.name,
      role: body.role,
      orgId: body.orgId ?? null,
      createdAt: now,
      updatedAt: now,
      disabledAt: null,
    };
    await users.insert(q, u);
    await audit(q, a, 'create', 'user', u.id, { name: u.name, role: u.role, orgId: u.orgId });
    return u;
  });
}

export async function getUser(ctx: RegistryContext, a: Actor, id: string): Promise<User> {
  mustHaveRole(a, ['admin'], 'read users');
  return users.get(ctx.db, id, 'user');
}

export async function listUsers(ctx: RegistryContext, a: Actor, o: ListOptions): Promise<User[]> {
  mustHaveRole(a, ['admin'], 'read users');
  return page(await users.list(ctx.db, []), o);
}

export async function updateUser(ctx: RegistryContext, a: Actor, id: string, patch: Static<typeof UserPatch>): Promise<User> {
  mustHaveRole(a, ['admin'], 'change users');
  let disabled = false;
  const u = await write(ctx, async (q) => {
    const cur = await users.get(q, id, 'user');
    const p: Record<string, unknown> = { name: patch.name };
    if (patch.disabled !== undefined && patch.disabled !== (cur.disabledAt !== null)) p.disabledAt = patch.disabled ? Date.now() : null;
    disabled = p.disabledAt !== undefined && p.disabledAt !== null;
    const changed = await users.update(q, cur, p, Date.now());
    if (Object.keys(changed).length) await audit(q, a, 'update', 'user', id, { changed });
    return users.get(q, id, 'user');
  });
  // After the commit: a request racing this already fails authentication; open streams end now.
  if (disabled) ctx.hooks.endSessions?.({ userId: id });
  return u;
}

export async function createToken(ctx: RegistryContext, a: Actor, userId: string, body: Static<typeof NewToken>): Promise<IssuedToken> {
  mustHaveRole(a, ['admin'], 'issue API tokens');
  const id = newId('tok');
  const secret = randomBytes(32).toString('base64url');
  return write(ctx, async (q) => {
    const u = await users.get(q, userId, 'user');
    if (u.disabledAt !== null) throw conflict(`user '${userId}' is disabled`);
    const now = Date.now();
    const info: Token = {
      id,
      userId,
      label: body.label ?? null,
      createdAt: now,
      expiresAt: body.expiresAt ?? null,
      revokedAt: null,
      lastUsedAt: null,
    };
    await q.run('INSERT INTO api_tokens (id, user_id, label, secret_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)', [
      id,
      userId,
      info.label,
      sha256(secret),
      now,
      info.expiresAt,
    ]);
    await audit(q, a, 'create', 'token', id, { userId, label: info.label, expiresAt: info.expiresAt });
    return { ...info, token: `tb1.${id}.${secret}` };
  });
}

export async function listTokens(ctx: RegistryContext, a: Actor, userId: string): Promise<Token[]> {
  mustHaveRole(a, ['admin'], 'read API tokens');
  await users.get(ctx.db, userId, 'user');
  return tokens.list(ctx.db, [['user_id', userId]], 'created_at');
}

export async function revokeToken(ctx: RegistryContext, a: Actor, id: string): Promise<Token> {
  mustHaveRole(a, ['admin'], 'revoke API tokens');
  const t = await write(ctx, async (q) => {
    const cur = await tokens.find(q, id);
    if (!cur) throw notFound(`token '${id}' does not exist`);
    if (cur.revokedAt !== null) throw conflict(`token '${id}' is already revoked`);
    await q.run('UPDATE api_tokens SET revoked_at = ? WHERE id = ?', [Date.now(), id]);
    await audit(q, a, 'revoke', 'token', id);
    return tokens.get(q, id, 'token');
  });
  // After the commit, as for a disabled user: the token's open streams end at once.
  ctx.hooks.endSessions?.({ tokenId: id });
  return t;
}

/**
 * The actor behind a bearer token, or null (unknown, wrong secret, revoked, expired, user
 * disabled). `touched` remembers when each token's last use was written.
 */
export async function authenticate(ctx: RegistryContext, touched: Map<string, number>, token: string): Promise<Actor | null> {
  const m = TOKEN_PATTERN.exec(token);
  if (!m) return null;
  const [, id, secret] = m as unknown as [string, string, string];
  const row = await ctx.db.get<Row>(
    'SELECT t.secret_hash, t.revoked_at, t.expires_at, u.id AS user_id, u.role, u.org_id, u.disabled_at ' +
      'FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.id = ?',
    [id],
  );
  if (!row) return null;
  const want = Buffer.from(String(row.secret_hash), 'hex');
  const got = Buffer.from(sha256(secret), 'hex');
  if (want.length !== got.length || !timingSafeEqual(want, got)) return null;
  const now = Date.now();
  if (row.revoked_at !== null || row.disabled_at !== null || (row.expires_at !== null && Number(row.expires_at) <= now)) return null;
  const last = touched.get(id);
  if (last === undefined || now - last > TOUCH_EVERY_MS) {
    touched.set(id, now);
    await ctx.db.run('UPDATE api_tokens SET last_used_at = ? WHERE id = ?', [now, id]);
  }
  return { id: String(row.user_id), role: row.role as Role, orgId: row.org_id === null ? null : String(row.org_id), tokenId: id };
}
