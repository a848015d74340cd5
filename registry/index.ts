// registry/: the trial registry (SQLite or PostgreSQL), its HTTP API, gateway commands, the
// attribution cache that ingest's enrich hook reads, and trial files (YAML) in and out.

import type { GatewayDirectory } from '../broker/index.ts';
import { openDatabase } from './db.ts';
import { migrate } from './migrations.ts';
import { Registry, type RegistryHooks } from './registry.ts';

export { ApiError } from '../lib/errors.ts';
export { Registry, cliActor, ROLES, type Actor, type Role, type RegistryHooks } from './registry.ts';
export { openDatabase, SqliteDatabase, PgDatabase, DbConstraintError, type Database, type Queryable } from './db.ts';
export { migrate, MIGRATIONS } from './migrations.ts';
export { registryVersionOf } from './context.ts';
export { Attribution } from './attribution.ts';
export { GatewayCommander } from './commands.ts';
export { registryApi } from './routes/index.ts';
export { newPseudonym, PSEUDONYM_PATTERN } from './ids.ts';

/** Opens the registry database (TESTBED_DATABASE_URL, else registry.sqlite in the data dir) and brings its schema up to date. */
export async function openRegistry(
  opts: { databaseUrl?: string | undefined; dataDir: string },
  hooks: RegistryHooks = {},
): Promise<Registry> {
  const db = await openDatabase(opts);
  try {
    await migrate(db);
  } catch (err) {
    await db.close().catch(() => undefined);
    throw err;
  }
  return new Registry(db, hooks);
}

/** The registry as the broker's source of gateway credentials. */
export function gatewayDirectory(registry: Registry, onError: (err: unknown) => void = () => undefined): GatewayDirectory {
  return {
    find: (username) => registry.gatewayCredential(username),
    touch: (username, at) => registry.touchGateway(username, at).catch(onError),
  };
}
