// /devices and /assignments: where each device was, when. Companies see where their devices are,
// never who lives there (the registry hides the participant).

import { Type } from 'typebox';
import { actorOf, errorResponses, type HttpPlugin } from '../../http/index.ts';
import { IdParam, Page } from '../../lib/schemas.ts';
import type { Registry } from '../registry.ts';
import { Assignment, AssignmentPatch, Device, DevicePatch, Move, NewAssignment, NewDevice } from '../schemas/index.ts';
import { ANYONE, DEVICE_OWNERS, STAFF } from './roles.ts';

export const deviceRoutes =
  (registry: Registry): HttpPlugin =>
  async (app) => {
    app.post(
      '/devices',
      {
        config: { roles: DEVICE_OWNERS },
        schema: {
          operationId: 'createDevice',
          tags: ['devices'],
          summary: 'Register a device',
          body: NewDevice,
          response: { 201: Device, ...errorResponses(400, 409) },
        },
      },
      async (req, reply) => reply.code(201).send(await registry.createDevice(actorOf(req), req.body)),
    );
    app.get(
      '/devices',
      {
        config: { roles: ANYONE },
        schema: {
          operationId: 'listDevices',
          tags: ['devices'],
          summary: 'List devices (a company: its own)',
          querystring: Type.Object({ orgId: Type.Optional(Type.String()), kind: Type.Optional(Type.String()), ...Page }),
          response: { 200: Type.Array(Device), ...errorResponses(400) },
        },
      },
      async (req) => registry.listDevices(actorOf(req), req.query),
    );
    app.get(
      '/devices/:id',
      {
        config: { roles: ANYONE },
        schema: {
          operationId: 'getDevice',
          tags: ['devices'],
          summary: 'Read a device',
          params: IdParam,
          response: { 200: Device, ...errorResponses(400, 404) },
        },
      },
      async (req) => registry.getDevice(actorOf(req), req.params.id),
    );
    app.patch(
      '/devices/:id',
      {
        config: { roles: DEVICE_OWNERS },
        schema: {
          operationId: 'updateDevice',
          tags: ['devices'],
          summary: 'Change a device (firmware after an update, …)',
          params: IdParam,
          body: DevicePatch,
          response: { 200: Device, ...errorResponses(400, 404, 409) },
        },
      },
      async (req) => registry.updateDevice(actorOf(req), req.params.id, req.body),
    );
    app.get(
      '/devices/:id/assignments',
      {
        config: { roles: ANYONE },
        schema: {
          operationId: 'listDeviceAssignments',
          tags: ['devices'],
          summary: "A device's assignment history, oldest first (companies do not see participants)",
          params: IdParam,
          response: { 200: Type.Array(Assignment), ...errorResponses(400, 404) },
        },
      },
      async (req) => registry.deviceHistory(actorOf(req), req.params.id),
    );
    app.post(
      '/devices/:id/move',
      {
        config: { roles: STAFF },
        schema: {
          operationId: 'moveDevice',
          tags: ['devices'],
          summary: 'Move a device to another home at `at`: ends its current assignment and starts a new one',
          params: IdParam,
          body: Move,
          response: { 201: Assignment, ...errorResponses(400, 404, 409) },
        },
      },
      async (req, reply) => reply.code(201).send(await registry.moveDevice(actorOf(req), req.params.id, req.body)),
    );

    app.post(
      '/assignments',
      {
        config: { roles: STAFF },
        schema: {
          operationId: 'createAssignment',
          tags: ['assignments'],
          summary: 'Assign a device to a home from `from` (to `to`); a device is in one home at a time',
          body: NewAssignment,
          response: { 201: Assignment, ...errorResponses(400, 409) },
        },
      },
      async (req, reply) => reply.code(201).send(await registry.createAssignment(actorOf(req), req.body)),
    );
    app.get(
      '/assignments',
      {
        config: { roles: ANYONE },
        schema: {
          operationId: 'listAssignments',
          tags: ['assignments'],
          summary: 'List assignments',
          querystring: Type.Object({ deviceId: Type.Optional(Type.String()), homeId: Type.Optional(Type.String()), ...Page }),
          response: { 200: Type.Array(Assignment), ...errorResponses(400) },
        },
      },
      async (req) => registry.listAssignments(actorOf(req), req.query),
    );
    app.get(
      '/assignments/:id',
      {
        config: { roles: ANYONE },
        schema: {
          operationId: 'getAssignment',
          tags: ['assignments'],
          summary: 'Read an assignment',
          params: IdParam,
          response: { 200: Assignment, ...errorResponses(400, 404) },
        },
      },
      async (req) => registry.getAssignment(actorOf(req), req.params.id),
    );
    app.patch(
      '/assignments/:id',
      {
        config: { roles: STAFF },
        schema: {
          operationId: 'updateAssignment',
          tags: ['assignments'],
          summary: 'Change an assignment (end it with `to`)',
          params: IdParam,
          body: AssignmentPatch,
          response: { 200: Assignment, ...errorResponses(400, 404, 409) },
        },
      },
      async (req) => registry.updateAssignment(actorOf(req), req.params.id, req.body),
    );
  };
