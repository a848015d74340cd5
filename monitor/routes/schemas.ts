// Monitoring's TypeBox schemas: each validates a request or shapes a reply (fields not named
// here are not sent) and documents the route in /openapi.json.

import { Type } from 'typebox';
import { Nullable, Slug } from '../../lib/schemas.ts';
import { PSEUDONYM_PATTERN } from '../../registry/ids.ts';
import type { Role } from '../../registry/index.ts';
import { RULES } from '../thresholds.ts';

/** Query ids are checked against their own patterns before they reach a store query (docs/security.md, queries). */
export const SiteQ = () => Type.Optional(Slug('site'));
export const TrialQ = () => Type.Optional(Slug('trial'));
export const ParticipantQ = () =>
  Type.Optional(Type.String({ pattern: PSEUDONYM_PATTERN.source, description: 'participant pseudonym, e.g. P-7K3M9Q' }));

export const ADMIN_COORD: readonly Role[] = ['admin', 'coordinator'];
/** Health is technical: the company that owns devices sees theirs; researchers see data, not devices. */
export const HEALTH_ROLES: readonly Role[] = ['admin', 'coordinator', 'company'];
export const DATA_ROLES: readonly Role[] = ['admin', 'coordinator', 'researcher'];
export const COMPARE_ROLES: readonly Role[] = ['admin', 'coordinator', 'researcher', 'company'];

/** A reply documented in words whose fields are all sent as they are (not narrowed by a schema). */
export const Loose = (description: string) => Type.Object({}, { additionalProperties: true, description });

export const UtcOffset = (description?: string) => Type.Integer({ minimum: -720, maximum: 840, ...(description ? { description } : {}) });

export const Alert = Type.Object({
  id: Type.String(),
  key: Type.String(),
  rule: Type.String(),
  severity: Type.String(),
  status: Type.String(),
  site: Type.String(),
  gateway: Nullable(Type.String()),
  device: Nullable(Type.String()),
  home: Nullable(Type.String()),
  participant: Nullable(Type.String()),
  message: Type.String(),
  openedAt: Type.Integer(),
  measuredAt: Type.Integer(),
  acknowledgedAt: Nullable(Type.Integer()),
  acknowledgedBy: Nullable(Type.String()),
  escalatedAt: Nullable(Type.Integer()),
  escalations: Type.Integer(),
  resolvedAt: Nullable(Type.Integer()),
  resolvedBy: Nullable(Type.String()),
  label: Nullable(Type.String()),
  labelledBy: Nullable(Type.String()),
  labelledAt: Nullable(Type.Integer()),
  note: Nullable(Type.String()),
  details: Type.Record(Type.String(), Type.Unknown()),
});

export const AlertId = Type.Object({ id: Type.String() });

export const Device = Type.Object({
  site: Type.String(),
  gateway: Type.String(),
  device: Type.String(),
  kind: Type.String(),
  status: Type.String({ description: 'ok | late | silent | battery-low' }),
  lastSeen: Type.Integer({ description: 'When its newest reading was measured (clamped to arrival), epoch ms' }),
  lastArrival: Nullable(Type.Integer()),
  ageS: Type.Number(),
  lateAfterS: Type.Integer(),
  silentAfterS: Type.Integer(),
  battery: Nullable(Type.Number()),
  home: Nullable(Type.String()),
  participant: Nullable(Type.String()),
  cause: Nullable(Type.String()),
  reason: Nullable(Type.String()),
  suppressed: Nullable(Type.String()),
});

export const Gateway = Type.Object({
  site: Type.String(),
  gateway: Type.String(),
  status: Type.String({ description: 'online | offline | degraded | unknown' }),
  reasons: Type.Array(Type.String()),
  since: Nullable(Type.Integer()),
  lastUpAt: Nullable(Type.Integer()),
  lastHealthAt: Nullable(Type.Integer()),
  outboxDepth: Nullable(Type.Integer()),
  outboxOldestAgeS: Nullable(Type.Number()),
  adapter: Nullable(Type.String()),
  suppressed: Nullable(Type.String()),
});

export const Window = Type.Object(
  { from: Type.Integer({ minimum: 0 }), to: Type.Integer({ minimum: 0 }) },
  { additionalProperties: false },
);
export const TrialPeriods = Type.Object({ trial: Type.String(), baseline: Window, intervention: Window });

const Positive = () => Type.Optional(Type.Number({ exclusiveMinimum: 0 }));
const ClockTime = () => Type.Optional(Type.String({ pattern: '^\\d\\d:\\d\\d$' }));

export const ThresholdPatch = Type.Object(
  {
    rules: Type.Optional(Type.Array(Type.Enum([...RULES]))),
    noDrinkHours: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 24 })),
    daytimeFrom: ClockTime(),
    daytimeTo: ClockTime(),
    wetMinutes: Positive(),
    gatewayOfflineMinutes: Type.Optional(Type.Number({ minimum: 0 })),
    batteryLowPct: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })),
    escalateMinutes: Type.Optional(
      Type.Object({ critical: Positive(), warning: Positive(), info: Positive() }, { additionalProperties: false }),
    ),
    utcOffsetMin: Type.Optional(UtcOffset()),
  },
  { additionalProperties: false },
);

export const MaintenanceWindow = Type.Object({
  id: Type.Integer(),
  site: Type.String(),
  gateway: Nullable(Type.String()),
  device: Nullable(Type.String()),
  from: Type.Integer(),
  to: Type.Integer(),
  reason: Nullable(Type.String()),
  createdBy: Nullable(Type.String()),
  createdAt: Type.Integer(),
});

export const Webhook = Type.Object({
  id: Type.Integer(),
  url: Type.String(),
  sites: Nullable(Type.Array(Type.String())),
  hasSecret: Type.Boolean(),
  createdAt: Type.Integer(),
});

export const NumericId = Type.Object({ id: Type.Integer() });
