// /organisations and /sites: anyone with a token reads them.

import { Type } from 'typebox';
import { actorOf, errorResponses, type HttpPlugin } from '../../http/index.ts';
import { IdParam, Page } from '../../lib/schemas.ts';
import type { Registry } from '../registry.ts';
import { NewOrganisation, NewSite, Organisation, OrganisationPatch, OrgType, Site, SitePatch } from '../schemas/index.ts';
import { ADMIN, ANYONE, STAFF } from './roles.ts';

export const organisationRoutes =
  (registry: Registry): HttpPlugin =>
  async (app) => {
    app.post(
      '/organisations',
      {
        config: { roles: ADMIN },
        schema: {
          operationId: 'createOrganisation',
          tags: ['organisations'],
          summary: 'Create an organisation (region, municipality, company…)',
          body: NewOrganisation,
          response: { 201: Organisation, ...errorResponses(400, 409) },
        },
      },
      async (req, reply) => reply.code(201).send(await registry.createOrganisation(actorOf(req), req.body)),
    );
    app.get(
      '/organisations',
      {
        config: { roles: ANYONE },
        schema: {
          operationId: 'listOrganisations',
          tags: ['organisations'],
          summary: 'List organisations',
          querystring: Type.Object({ type: Type.Optional(OrgType), ...Page }),
          response: { 200: Type.Array(Organisation), ...errorResponses(400) },
        },
      },
      async (req) => registry.listOrganisations(actorOf(req), req.query),
    );
    app.get(
      '/organisations/:id',
      {
        config: { roles: ANYONE },
        schema: {
          operationId: 'getOrganisation',
          tags: ['organisations'],
          summary: 'Read an organisation',
          params: IdParam,
          response: { 200: Organisation, ...errorResponses(400, 404) },
        },
      },
      async (req) => registry.getOrganisation(actorOf(req), req.params.id),
    );
    app.patch(
      '/organisations/:id',
      {
        config: { roles: ADMIN },
        schema: {
          operationId: 'updateOrganisation',
          tags: ['organisations'],
          summary: 'Change an organisation',
          params: IdParam,
          body: OrganisationPatch,
          response: { 200: Organisation, ...errorResponses(400, 404) },
        },
      },
      async (req) => registry.updateOrganisation(actorOf(req), req.params.id, req.body),
    );

    app.post(
      '/sites',
      {
        config: { roles: STAFF },
        schema: {
          operationId: 'createSite',
          tags: ['sites'],
          summary: 'Create a site (a test facility)',
          body: NewSite,
          response: { 201: Site, ...errorResponses(400, 409) },
        },
      },
      async (req, reply) => reply.code(201).send(await registry.createSite(actorOf(req), req.body)),
    );
    app.get(
      '/sites',
      {
        config: { roles: ANYONE },
        schema: {
          operationId: 'listSites',
          tags: ['sites'],
          summary: 'List sites',
          querystring: Type.Object({ orgId: Type.Optional(Type.String()), ...Page }),
          response: { 200: Type.Array(Site), ...errorResponses(400) },
        },
      },
      async (req) => registry.listSites(actorOf(req), req.query),
    );
    app.get(
      '/sites/:id',
      {
        config: { roles: ANYONE },
        schema: {
          operationId: 'getSite',
          tags: ['sites'],
          summary: 'Read a site',
          params: IdParam,
          response: { 200: Site, ...errorResponses(400, 404) },
        },
      },
      async (req) => registry.getSite(actorOf(req), req.params.id),
    );
    app.patch(
      '/sites/:id',
      {
        config: { roles: STAFF },
        schema: {
          operationId: 'updateSite',
          tags: ['sites'],
          summary: 'Change a site',
          params: IdParam,
          body: SitePatch,
          response: { 200: Site, ...errorResponses(400, 404) },
        },
      },
      async (req) => registry.updateSite(actorOf(req), req.params.id, req.body),
    );
  };
