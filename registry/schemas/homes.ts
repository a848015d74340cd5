// A home: where a participant lives and devices are placed, at one site. Never an address.

import { type Static, Type } from 'typebox';
import { Body, Nullable, Slug } from '../../lib/schemas.ts';
import { fieldsOf, optionalFieldsOf, patchOf, Stamps } from './common.ts';

export const Home = Type.Object(
  {
    id: Slug('home'),
    siteId: Type.String(),
    label: Nullable(Type.String({ maxLength: 100, description: 'A neutral label, never an address' })),
    ...Stamps,
  },
  { title: 'Home' },
);
export type Home = Static<typeof Home>;

export const NewHome = Body({ ...fieldsOf(Home, ['siteId']), ...optionalFieldsOf(Home, ['id', 'label']) });
export const HomePatch = patchOf(Home, ['label']);
