// Monitoring's routes under /api/v1, in the same OpenAPI document as the registry's: one plugin
// per concern. Each route names the roles that may call it (`config.roles`: the shell's auth
// plugin checks the token and documents 401/403); what a role then sees is narrowed like the
// registry does (coordinator: their organisation's trials' sites; company: its own devices and
// gateways, no participant data; researcher: consented participants only, read-only).

import type { HttpPlugin } from '../../http/index.ts';
import { alertRoutes } from './alerts.ts';
import { compareRoutes } from './compare.ts';
import { completenessRoutes } from './completeness.ts';
import { configRoutes } from './config.ts';
import type { MonitorApiDeps } from './deps.ts';
import { healthRoutes } from './health.ts';

export type { MonitorApiDeps } from './deps.ts';

export function monitorApi(d: MonitorApiDeps): HttpPlugin {
  return async (app) => {
    for (const routes of [healthRoutes, completenessRoutes, compareRoutes, configRoutes, alertRoutes])
      await app.register(routes(d), { prefix: '/api/v1' });
  };
}
