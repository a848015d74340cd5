// A trial: one protocol run by a coordinating organisation at one or more sites.

import { type Static, Type } from 'typebox';
import { Body, Nullable, Slug, Text, Ts } from '../../lib/schemas.ts';
import { fieldsOf, optionalFieldsOf, patchOf, Stamps } from './common.ts';
import { Phase } from './enums.ts';

export const Trial = Type.Object(
  {
    id: Slug('trial'),
    orgId: Type.String({ description: 'Coordinating organisation (a coordinator: their own)' }),
    name: Text(),
    phase: Phase,
    protocolVersion: Type.String({ minLength: 1, maxLength: 50 }),
    startAt: Ts('start'),
    endAt: Nullable(Ts('end')),
    siteIds: Type.Array(Type.String(), { maxItems: 1000 }),
    ...Stamps,
  },
  { title: 'Trial' },
);
export type Trial = Static<typeof Trial>;

export const NewTrial = Body({
  ...fieldsOf(Trial, ['name', 'phase', 'protocolVersion', 'startAt']),
  ...optionalFieldsOf(Trial, ['id', 'orgId', 'endAt', 'siteIds']),
});
export const TrialPatch = patchOf(Trial, ['name', 'phase', 'protocolVersion', 'startAt', 'endAt', 'siteIds']);
