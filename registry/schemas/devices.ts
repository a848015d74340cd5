// Devices (owned by a company) and their assignments to homes over time: a device is in one home
// at a time, and the history is what attributes its readings to a home and a participant.

import { type Static, Type } from 'typebox';
import { Body, Nullable, Text, Ts } from '../../lib/schemas.ts';
import { fieldsOf, optionalFieldsOf, patchOf, Stamps } from './common.ts';

export const Device = Type.Object(
  {
    id: Type.String({ description: "What the gateway reports as 'dev'" }),
    kind: Type.String({ description: 'A kind from the device catalogue' }),
    vendor: Text(),
    model: Text(),
    firmware: Nullable(Type.String({ maxLength: 100 })),
    zigbeeAddress: Nullable(Type.String({ pattern: '^0x[0-9a-fA-F]{16}$', description: 'IEEE address, e.g. 0x00158d0001a2b3c4' })),
    serial: Nullable(Type.String({ maxLength: 100 })),
    orgId: Type.String({ description: 'Owning company (a company: their own)' }),
    ...Stamps,
  },
  { title: 'Device' },
);
export type Device = Static<typeof Device>;

export const NewDevice = Body({
  ...fieldsOf(Device, ['id', 'kind', 'vendor', 'model']),
  ...optionalFieldsOf(Device, ['firmware', 'zigbeeAddress', 'serial', 'orgId']),
});
/** The kind is not changeable: a different kind is a different device. */
export const DevicePatch = patchOf(Device, ['vendor', 'model', 'firmware', 'zigbeeAddress', 'serial', 'orgId']);

export const Assignment = Type.Object(
  {
    id: Type.String(),
    deviceId: Type.String(),
    homeId: Type.String(),
    participantId: Nullable(Type.String({ description: 'For a personal device (a wearable)' })),
    from: Ts('start'),
    to: Nullable(Ts('end')),
    ...Stamps,
  },
  { title: 'Assignment' },
);
export type Assignment = Static<typeof Assignment>;

export const NewAssignment = Body({
  ...fieldsOf(Assignment, ['deviceId', 'homeId', 'from']),
  ...optionalFieldsOf(Assignment, ['participantId', 'to']),
});
export const AssignmentPatch = patchOf(Assignment, ['from', 'to', 'participantId']);
export const Move = Body({ ...fieldsOf(Assignment, ['homeId']), at: Ts('the move'), ...optionalFieldsOf(Assignment, ['participantId']) });
