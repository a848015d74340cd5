// The audit log: append-only, one entry per write and per read of participant data.

import { type Static, Type } from 'typebox';
import { Nullable, Ts } from '../../lib/schemas.ts';

export const AuditEntry = Type.Object(
  {
    id: Type.Integer(),
    at: Ts('when'),
    actor: Type.String({ description: 'A user id, or cli:<os user>' }),
    role: Type.String(),
    tokenId: Nullable(Type.String()),
    action: Type.String(),
    resourceType: Type.String(),
    resourceId: Nullable(Type.String()),
    details: Type.Record(Type.String(), Type.Unknown()),
  },
  { title: 'AuditEntry' },
);
export type AuditEntry = Static<typeof AuditEntry>;
