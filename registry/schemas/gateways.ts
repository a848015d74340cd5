// Gateways: one per home or site, with MQTT credentials (only the scrypt hash is stored).

import { type Static, Type } from 'typebox';
import { Body, Nullable, Slug, Ts } from '../../lib/schemas.ts';
import { fieldsOf, optionalFieldsOf, patchOf, Stamps } from './common.ts';

export const Gateway = Type.Object(
  {
    id: Type.String({ description: 'MQTT username: {site}.{gateway}' }),
    siteId: Slug('site'),
    gateway: Slug('gateway'),
    homeId: Nullable(Type.String()),
    orgId: Nullable(Type.String({ description: 'The company operating it' })),
    ...Stamps,
    revokedAt: Nullable(Ts('revocation')),
    lastSeenAt: Nullable(Ts('last connect')),
  },
  { title: 'Gateway' },
);
export type Gateway = Static<typeof Gateway>;

export const NewGateway = Body({ ...fieldsOf(Gateway, ['siteId', 'gateway']), ...optionalFieldsOf(Gateway, ['homeId', 'orgId']) });
export const GatewayPatch = patchOf(Gateway, ['homeId', 'orgId']);
export const PermitJoin = Body({ seconds: Type.Integer({ minimum: 0, maximum: 254, description: '0 closes the network' }) });

export const Credentials = Type.Object(
  { username: Type.String(), password: Type.String({ description: 'Shown once; only its hash is stored' }) },
  { title: 'Credentials' },
);
export const GatewayWithCredentials = Type.Object({ gateway: Gateway, credentials: Credentials });
export type GatewayWithCredentials = Static<typeof GatewayWithCredentials>;
export const RevokedGateway = Type.Object({ gateway: Gateway, disconnected: Type.Integer() });
