// Device and gateway health: what arrives, judged against each kind's expected reporting.

import { Type } from 'typebox';
import type { HttpPlugin } from '../../http/index.ts';
import { errorResponses } from '../../http/errors.ts';
import { fleetDevices, fleetGateways } from '../fleet.ts';
import { accessOf, type MonitorApiDeps } from './deps.ts';
import { Device, Gateway, HEALTH_ROLES, SiteQ } from './schemas.ts';

const ofDevices = (reply: unknown) =>
  ((reply as { devices?: { participant: string | null }[] } | null)?.devices ?? []).map((d) => d.participant);

export const healthRoutes =
  (d: MonitorApiDeps): HttpPlugin =>
  async (app) => {
    app.get(
      '/monitor/devices',
      {
        // Who each device serves is participant-level: the read is audited with the participants shown.
        config: { roles: HEALTH_ROLES, audit: { action: 'read', resource: 'device-health', participants: ofDevices } },
        schema: {
          operationId: 'listDeviceHealth',
          tags: ['monitoring'],
          summary: 'Every device heard from, with its health',
          description:
            'Ok, late, silent or battery-low, judged from what arrives against its kind’s expected reporting, ' +
            'with the likely cause of a silence.',
          querystring: Type.Object({
            site: SiteQ(),
            status: Type.Optional(Type.Enum(['ok', 'late', 'silent', 'battery-low', 'problem'])),
          }),
          response: { 200: Type.Object({ at: Type.Integer(), devices: Type.Array(Device) }), ...errorResponses(400) },
        },
      },
      async (req) => {
        const at = d.clock();
        return { at, devices: fleetDevices(d, accessOf(d, req), req.query, at) };
      },
    );

    app.get(
      '/monitor/gateways',
      {
        config: { roles: HEALTH_ROLES },
        schema: {
          operationId: 'listGatewayHealth',
          tags: ['monitoring'],
          summary: 'Every gateway, with its health',
          description: 'Online, offline or degraded (outbox growing, adapter down), from its state and health topics.',
          querystring: Type.Object({ site: SiteQ() }),
          response: { 200: Type.Object({ at: Type.Integer(), gateways: Type.Array(Gateway) }) },
        },
      },
      async (req) => {
        const at = d.clock();
        return { at, gateways: fleetGateways(d, accessOf(d, req), req.query, at) };
      },
    );
  };
