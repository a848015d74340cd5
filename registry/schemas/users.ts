// Users (a role, and an organisation for coordinators and companies) and their API tokens.

import { type Static, Type } from 'typebox';
import { Body, Nullable, Text, Ts } from '../../lib/schemas.ts';
import { fieldsOf, optionalFieldsOf } from './common.ts';
import { Role } from './enums.ts';

export const User = Type.Object(
  {
    id: Type.String(),
    name: Text('Display name'),
    role: Role,
    orgId: Nullable(Type.String()),
    createdAt: Type.Integer(),
    updatedAt: Type.Integer(),
    disabledAt: Nullable(Ts('disabled')),
  },
  { title: 'User' },
);
export type User = Static<typeof User>;

export const NewUser = Body({ ...fieldsOf(User, ['name', 'role']), ...optionalFieldsOf(User, ['orgId']) });
/** Disabling is a flag in the body; the registry keeps when it happened. */
export const UserPatch = Body({ ...optionalFieldsOf(User, ['name']), disabled: Type.Optional(Type.Boolean()) });

export const Token = Type.Object(
  {
    id: Type.String(),
    userId: Type.String(),
    label: Nullable(Type.String({ maxLength: 100 })),
    createdAt: Type.Integer(),
    expiresAt: Nullable(Ts('expiry')),
    revokedAt: Nullable(Ts('revocation')),
    lastUsedAt: Nullable(Ts('last use')),
  },
  { title: 'Token' },
);
export type Token = Static<typeof Token>;

export const NewToken = Body(optionalFieldsOf(Token, ['label', 'expiresAt']));
export const IssuedToken = Type.Object({ ...Token.properties, token: Type.String({ description: 'Shown once; only its hash is stored' }) });
export type IssuedToken = Static<typeof IssuedToken>;

/** Who a token acts for. */
export const Me = Type.Object({ ...fieldsOf(User, ['id', 'role', 'orgId']), tokenId: Nullable(Type.String()) });
