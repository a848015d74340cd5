// Shared by the registry tests: a fresh registry on SQLite (temp dir) or PostgreSQL (a new
// database per call in the run's throwaway cluster, test/support/postgres.ts, dropped afterwards), the HTTP app with the
// registry API, and tokens for each role. PostgreSQL not reachable → the test fails, loudly.

import pg from 'pg';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { buildHttpApp, type HttpApp } from '../../http/index.ts';
import { openRegistry, registryApi, cliActor, type Registry, type Role } from '../../registry/index.ts';
import { tempDir } from './servers.ts';
import { postgresAdminUrl } from './postgres.ts';

export const DATABASES = ['sqlite', 'postgres'] as const;
export type DbKind = (typeof DATABASES)[number];

export const PG_ADMIN_URL = postgresAdminUrl();

export interface FreshDb {
  kind: DbKind;
  dataDir: string;
  /** Empty on SQLite. */
  databaseUrl: string;
  drop(): Promise<void>;
}

/** A new, empty database: a temp dir for SQLite, `testbed_<random>` on PostgreSQL. */
export async function freshDatabase(kind: DbKind): Promise<FreshDb> {
  const dataDir = tempDir(`testbed-reg-${kind}-`);
  if (kind === 'sqlite') return { kind, dataDir, databaseUrl: '', drop: async () => rmSync(dataDir, { recursive: true, force: true }) };
  const name = `testbed_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  try {
    await admin.connect();
  } catch (err) {
    throw new Error(
      `PostgreSQL is not reachable at ${PG_ADMIN_URL} (the run's cluster from test/support/postgres.ts): ${(err as Error).message}`,
    );
  }
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    kind,
    dataDir,
    databaseUrl: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: PG_ADMIN_URL });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function freshRegistry(kind: DbKind): Promise<{ registry: Registry; db: FreshDb; close(): Promise<void> }> {
  const db = await freshDatabase(kind);
  const registry = await openRegistry({ databaseUrl: db.databaseUrl, dataDir: db.dataDir });
  return {
    registry,
    db,
    async close() {
      await registry.db.close();
      await db.drop();
    },
  };
}

/** A user with `role` (in `orgId`) and a token for it. */
export async function tokenFor(registry: Registry, role: Role, orgId: string | null = null): Promise<{ token: string; userId: string }> {
  const user = await registry.createUser(cliActor(), { name: `test ${role}`, role, orgId });
  const t = await registry.createToken(cliActor(), user.id);
  return { token: t.token, userId: user.id };
}

export interface Api {
  app: HttpApp;
  // biome-ignore lint/suspicious/noExplicitAny: the API's JSON, read freely by ~90 assertions; typing each call is still to do
  call(method: string, url: string, token?: string | null, body?: unknown): Promise<{ status: number; body: any }>;
}

export async function apiFor(registry: Registry): Promise<Api> {
  const app = await buildHttpApp({
    health: () => ({ status: 'ok', uptimeS: 0, version: 'test', roles: {} }),
    authenticate: (token) => registry.authenticate(token),
    plugins: [registryApi({ registry })],
  });
  await app.ready();
  return {
    app,
    async call(method, url, token, body) {
      const { status, body: parsed } = await injectJson(app, method, url, token, body);
      return { status, body: parsed };
    },
  };
}

/** One request through the app in-process (`url` relative to /api/v1 unless it starts with /), the reply parsed when JSON. */
export async function injectJson(
  app: HttpApp,
  method: string,
  url: string,
  token: string | null | undefined,
  body?: unknown,
): Promise<{ status: number; body: unknown; text: string }> {
  const res = await app.inject({
    method: method as 'GET',
    url: url.startsWith('/') ? url : `/api/v1/${url}`,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { payload: JSON.stringify(body) } : {}),
  });
  let parsed: unknown = res.body;
  try {
    parsed = JSON.parse(res.body);
  } catch {
    // not JSON: the assertion says so
  }
  return { status: res.statusCode, body: parsed, text: res.body };
}

export const T0 = Date.UTC(2025, 2, 1);
export const DAY = 24 * 3600 * 1000;
