// The registry's HTTP API under /api/v1: create, read, update and list for every resource, plus
// the verbs that are not plain updates (withdraw a participant, move a device, revoke a gateway,
// rotate its credentials, permit join). One route plugin per aggregate; each route names its
// roles (the shell's auth plugin checks and documents them) and its handler is a call to the
// Registry, which applies the finer rules.

import type { HttpPlugin } from '../../http/index.ts';
import type { Registry } from '../registry.ts';
import { auditRoutes } from './audit.ts';
import { deviceRoutes } from './devices.ts';
import { gatewayRoutes } from './gateways.ts';
import { homeRoutes } from './homes.ts';
import { organisationRoutes } from './organisations.ts';
import { participantRoutes } from './participants.ts';
import { trialRoutes } from './trials.ts';
import { userRoutes } from './users.ts';

export interface ApiOptions {
  registry: Registry;
}

/** The registry routes, for the HTTP shell's `plugins`. */
export function registryApi(opts: ApiOptions): HttpPlugin {
  const routes = [userRoutes, organisationRoutes, trialRoutes, homeRoutes, participantRoutes, deviceRoutes, gatewayRoutes, auditRoutes];
  return async (app) => {
    for (const plugin of routes) await app.register(plugin(opts.registry), { prefix: '/api/v1' });
  };
}
