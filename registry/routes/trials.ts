// /trials: a coordinator sees and changes their own organisation's.

import { Type } from 'typebox';
import { actorOf, errorResponses, type HttpPlugin } from '../../http/index.ts';
import { IdParam, Page } from '../../lib/schemas.ts';
import type { Registry } from '../registry.ts';
import { NewTrial, Trial, TrialPatch } from '../schemas/index.ts';
import { ANYONE, STAFF } from './roles.ts';

export const trialRoutes =
  (registry: Registry): HttpPlugin =>
  async (app) => {
    app.post(
      '/trials',
      {
        config: { roles: STAFF },
        schema: {
          operationId: 'createTrial',
          tags: ['trials'],
          summary: 'Create a trial',
          body: NewTrial,
          response: { 201: Trial, ...errorResponses(400, 409) },
        },
      },
      async (req, reply) => reply.code(201).send(await registry.createTrial(actorOf(req), req.body)),
    );
    app.get(
      '/trials',
      {
        config: { roles: ANYONE },
        schema: {
          operationId: 'listTrials',
          tags: ['trials'],
          summary: "List trials (a coordinator: their organisation's)",
          querystring: Type.Object({ orgId: Type.Optional(Type.String()), ...Page }),
          response: { 200: Type.Array(Trial), ...errorResponses(400) },
        },
      },
      async (req) => registry.listTrials(actorOf(req), req.query),
    );
    app.get(
      '/trials/:id',
      {
        config: { roles: ANYONE },
        schema: {
          operationId: 'getTrial',
          tags: ['trials'],
          summary: 'Read a trial',
          params: IdParam,
          response: { 200: Trial, ...errorResponses(400, 404) },
        },
      },
      async (req) => registry.getTrial(actorOf(req), req.params.id),
    );
    app.patch(
      '/trials/:id',
      {
        config: { roles: STAFF },
        schema: {
          operationId: 'updateTrial',
          tags: ['trials'],
          summary: 'Change a trial (phase, protocol version, dates, sites)',
          params: IdParam,
          body: TrialPatch,
          response: { 200: Trial, ...errorResponses(400, 404) },
        },
      },
      async (req) => registry.updateTrial(actorOf(req), req.params.id, req.body),
    );
  };
