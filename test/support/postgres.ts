// One throwaway PostgreSQL cluster per test run, for the tests that run the registry on
// PostgreSQL: vitest.config.ts names this file as the integration project's globalSetup, which
// starts the cluster before the first test file and stops it after the last. Each test then
// creates its own database in it (test/support/registry.ts), so tests never share data.
// Nothing connects to a server the tests did not start (such as the machine's port 5432).

import { inject } from 'vitest';
import type { TestProject } from 'vitest/node';
import { startPostgres } from './servers.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    postgresAdminUrl: string;
  }
}

export default async function startClusterForRun(project: TestProject): Promise<() => Promise<void>> {
  const cluster = await startPostgres();
  project.provide('postgresAdminUrl', cluster.adminUrl);
  return () => cluster.stop();
}

/** The superuser URL of this run's cluster (its `postgres` database); throws when no cluster was started. */
export function postgresAdminUrl(): string {
  const url = inject('postgresAdminUrl');
  if (!url) {
    throw new Error('no PostgreSQL cluster in this run: test/support/postgres.ts starts it as the globalSetup of the integration project');
  }
  return url;
}
