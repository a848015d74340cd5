// /participants and /absences. Every read of them is audited by the registry.

import { Type } from 'typebox';
import { actorOf, errorResponses, type HttpPlugin } from '../../http/index.ts';
import { IdParam, Page } from '../../lib/schemas.ts';
import type { Registry } from '../registry.ts';
import { Absence, AbsencePatch, NewAbsence, NewParticipant, Participant, ParticipantPatch, Withdrawal } from '../schemas/index.ts';
import { PARTICIPANT_READERS, STAFF } from './roles.ts';

export const participantRoutes =
  (registry: Registry): HttpPlugin =>
  async (app) => {
    app.post(
      '/participants',
      {
        config: { roles: STAFF },
        schema: {
          operationId: 'createParticipant',
          tags: ['participants'],
          summary: 'Enrol a participant under a pseudonym (generated unless given)',
          body: NewParticipant,
          response: { 201: Participant, ...errorResponses(400, 409) },
        },
      },
      async (req, reply) => reply.code(201).send(await registry.createParticipant(actorOf(req), req.body)),
    );
    app.get(
      '/participants',
      {
        config: { roles: PARTICIPANT_READERS },
        schema: {
          operationId: 'listParticipants',
          tags: ['participants'],
          summary: 'List participants (researchers: consented only). Audited.',
          querystring: Type.Object({ trialId: Type.Optional(Type.String()), homeId: Type.Optional(Type.String()), ...Page }),
          response: { 200: Type.Array(Participant), ...errorResponses(400) },
        },
      },
      async (req) => registry.listParticipants(actorOf(req), req.query),
    );
    app.get(
      '/participants/:id',
      {
        config: { roles: PARTICIPANT_READERS },
        schema: {
          operationId: 'getParticipant',
          tags: ['participants'],
          summary: 'Read a participant. Audited.',
          params: IdParam,
          response: { 200: Participant, ...errorResponses(400, 404) },
        },
      },
      async (req) => registry.getParticipant(actorOf(req), req.params.id),
    );
    app.patch(
      '/participants/:id',
      {
        config: { roles: STAFF },
        schema: {
          operationId: 'updateParticipant',
          tags: ['participants'],
          summary: 'Change a participant (home, enrolment, consent)',
          params: IdParam,
          body: ParticipantPatch,
          response: { 200: Participant, ...errorResponses(400, 404, 409) },
        },
      },
      async (req) => registry.updateParticipant(actorOf(req), req.params.id, req.body),
    );
    app.post(
      '/participants/:id/withdraw',
      {
        config: { roles: STAFF },
        schema: {
          operationId: 'withdrawParticipant',
          tags: ['participants'],
          summary: 'Withdraw a participant',
          description: 'From `at` on no reading is attributed to them; `pastData` flags what was collected before for export rules.',
          params: IdParam,
          body: Withdrawal,
          response: { 200: Participant, ...errorResponses(400, 404, 409) },
        },
      },
      async (req) => registry.withdrawParticipant(actorOf(req), req.params.id, req.body),
    );

    app.post(
      '/absences',
      {
        config: { roles: STAFF },
        schema: {
          operationId: 'createAbsence',
          tags: ['absences'],
          summary: 'Record an absence (hospital stay, travel, device removed…)',
          body: NewAbsence,
          response: { 201: Absence, ...errorResponses(400) },
        },
      },
      async (req, reply) => reply.code(201).send(await registry.createAbsence(actorOf(req), req.body)),
    );
    app.get(
      '/absences',
      {
        config: { roles: PARTICIPANT_READERS },
        schema: {
          operationId: 'listAbsences',
          tags: ['absences'],
          summary: 'List absences. Audited.',
          querystring: Type.Object({ participantId: Type.Optional(Type.String()), ...Page }),
          response: { 200: Type.Array(Absence), ...errorResponses(400) },
        },
      },
      async (req) => registry.listAbsences(actorOf(req), req.query),
    );
    app.get(
      '/absences/:id',
      {
        config: { roles: PARTICIPANT_READERS },
        schema: {
          operationId: 'getAbsence',
          tags: ['absences'],
          summary: 'Read an absence. Audited.',
          params: IdParam,
          response: { 200: Absence, ...errorResponses(400, 404) },
        },
      },
      async (req) => registry.getAbsence(actorOf(req), req.params.id),
    );
    app.patch(
      '/absences/:id',
      {
        config: { roles: STAFF },
        schema: {
          operationId: 'updateAbsence',
          tags: ['absences'],
          summary: 'Change an absence',
          params: IdParam,
          body: AbsencePatch,
          response: { 200: Absence, ...errorResponses(400, 404) },
        },
      },
      async (req) => registry.updateAbsence(actorOf(req), req.params.id, req.body),
    );
  };
