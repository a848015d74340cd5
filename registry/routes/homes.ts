// /homes: never shown to companies (a home is one step from a person).

import { Type } from 'typebox';
import { actorOf, errorResponses, type HttpPlugin } from '../../http/index.ts';
import { IdParam, Page } from '../../lib/schemas.ts';
import type { Registry } from '../registry.ts';
import { Home, HomePatch, NewHome } from '../schemas/index.ts';
import { PARTICIPANT_READERS, STAFF } from './roles.ts';

export const homeRoutes =
  (registry: Registry): HttpPlugin =>
  async (app) => {
    app.post(
      '/homes',
      {
        config: { roles: STAFF },
        schema: {
          operationId: 'createHome',
          tags: ['homes'],
          summary: 'Create a home at a site',
          body: NewHome,
          response: { 201: Home, ...errorResponses(400, 409) },
        },
      },
      async (req, reply) => reply.code(201).send(await registry.createHome(actorOf(req), req.body)),
    );
    app.get(
      '/homes',
      {
        config: { roles: PARTICIPANT_READERS },
        schema: {
          operationId: 'listHomes',
          tags: ['homes'],
          summary: 'List homes',
          querystring: Type.Object({ siteId: Type.Optional(Type.String()), ...Page }),
          response: { 200: Type.Array(Home), ...errorResponses(400) },
        },
      },
      async (req) => registry.listHomes(actorOf(req), req.query),
    );
    app.get(
      '/homes/:id',
      {
        config: { roles: PARTICIPANT_READERS },
        schema: {
          operationId: 'getHome',
          tags: ['homes'],
          summary: 'Read a home',
          params: IdParam,
          response: { 200: Home, ...errorResponses(400, 404) },
        },
      },
      async (req) => registry.getHome(actorOf(req), req.params.id),
    );
    app.patch(
      '/homes/:id',
      {
        config: { roles: STAFF },
        schema: {
          operationId: 'updateHome',
          tags: ['homes'],
          summary: 'Change a home',
          params: IdParam,
          body: HomePatch,
          response: { 200: Home, ...errorResponses(400, 404) },
        },
      },
      async (req) => registry.updateHome(actorOf(req), req.params.id, req.body),
    );
  };
