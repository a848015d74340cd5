// Organisations (regions, municipalities, companies…) and sites (the test facilities).

import { type Static, Type } from 'typebox';
import { Body, Nullable, Slug, Strings, Text } from '../../lib/schemas.ts';
import { fieldsOf, optionalFieldsOf, patchOf, Stamps } from './common.ts';
import { OrgType } from './enums.ts';

export const Organisation = Type.Object({ id: Slug('organisation'), name: Text(), type: OrgType, ...Stamps }, { title: 'Organisation' });
export type Organisation = Static<typeof Organisation>;

export const NewOrganisation = Body({ id: Type.Optional(Organisation.properties.id), ...fieldsOf(Organisation, ['name', 'type']) });
export const OrganisationPatch = patchOf(Organisation, ['name', 'type']);

export const Site = Type.Object(
  {
    id: Slug('site'),
    orgId: Nullable(Type.String()),
    name: Text(),
    facilities: Strings('What the site offers as a test facility (e.g. apartments, nursing-home, showroom)'),
    description: Nullable(Type.String({ maxLength: 2000 })),
    ...Stamps,
  },
  { title: 'Site' },
);
export type Site = Static<typeof Site>;

export const NewSite = Body({
  id: Type.Optional(Site.properties.id),
  name: Site.properties.name,
  ...optionalFieldsOf(Site, ['orgId', 'facilities', 'description']),
});
export const SitePatch = patchOf(Site, ['orgId', 'name', 'facilities', 'description']);
