// Who may call which registry route. The auth plugin (http/auth.ts) turns a route's
// `config: { roles }` into the 401/403 check and its OpenAPI security entry; the registry then
// applies the finer rules (which organisation, which sites, consent).

import { ROLES, type Role } from '../schemas/index.ts';

export const ANYONE: readonly Role[] = ROLES;
export const ADMIN: readonly Role[] = ['admin'];
/** Those who run trials. */
export const STAFF: readonly Role[] = ['admin', 'coordinator'];
/** Participant data, homes: never companies. */
export const PARTICIPANT_READERS: readonly Role[] = ['admin', 'coordinator', 'researcher'];
/** Gateways: never researchers. */
export const GATEWAY_OPERATORS: readonly Role[] = ['admin', 'coordinator', 'company'];
export const DEVICE_OWNERS: readonly Role[] = ['admin', 'company'];
