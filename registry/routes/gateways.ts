// /gateways: provisioning and MQTT credentials (shown once), revocation, and permit join — the
// one registry route that waits on a device: 503 without a broker in this process, 504 when the
// gateway does not answer in time.

import { Type } from 'typebox';
import { actorOf, errorResponses, type HttpPlugin } from '../../http/index.ts';
import { IdParam, Page } from '../../lib/schemas.ts';
import type { Registry } from '../registry.ts';
import { Gateway, GatewayPatch, GatewayWithCredentials, NewGateway, PermitJoin, RevokedGateway } from '../schemas/index.ts';
import { GATEWAY_OPERATORS, STAFF } from './roles.ts';

export const gatewayRoutes =
  (registry: Registry): HttpPlugin =>
  async (app) => {
    app.post(
      '/gateways',
      {
        config: { roles: STAFF },
        schema: {
          operationId: 'createGateway',
          tags: ['gateways'],
          summary: 'Provision a gateway: returns its MQTT credentials once; a running broker accepts them at once',
          body: NewGateway,
          response: { 201: GatewayWithCredentials, ...errorResponses(400, 409) },
        },
      },
      async (req, reply) => reply.code(201).send(await registry.createGateway(actorOf(req), req.body)),
    );
    app.get(
      '/gateways',
      {
        config: { roles: GATEWAY_OPERATORS },
        schema: {
          operationId: 'listGateways',
          tags: ['gateways'],
          summary: 'List gateways',
          querystring: Type.Object({ siteId: Type.Optional(Type.String()), ...Page }),
          response: { 200: Type.Array(Gateway), ...errorResponses(400) },
        },
      },
      async (req) => registry.listGateways(actorOf(req), req.query),
    );
    app.get(
      '/gateways/:id',
      {
        config: { roles: GATEWAY_OPERATORS },
        schema: {
          operationId: 'getGateway',
          tags: ['gateways'],
          summary: 'Read a gateway (never its password)',
          params: IdParam,
          response: { 200: Gateway, ...errorResponses(400, 404) },
        },
      },
      async (req) => registry.getGateway(actorOf(req), req.params.id),
    );
    app.patch(
      '/gateways/:id',
      {
        config: { roles: STAFF },
        schema: {
          operationId: 'updateGateway',
          tags: ['gateways'],
          summary: 'Change a gateway (home, operating company)',
          params: IdParam,
          body: GatewayPatch,
          response: { 200: Gateway, ...errorResponses(400, 404) },
        },
      },
      async (req) => registry.updateGateway(actorOf(req), req.params.id, req.body),
    );
    app.post(
      '/gateways/:id/revoke',
      {
        config: { roles: GATEWAY_OPERATORS },
        schema: {
          operationId: 'revokeGateway',
          tags: ['gateways'],
          summary: 'Revoke a gateway: disconnected now (broker in this process) and refused on its next connect',
          params: IdParam,
          response: { 200: RevokedGateway, ...errorResponses(400, 404, 409) },
        },
      },
      async (req) => registry.revokeGateway(actorOf(req), req.params.id),
    );
    app.post(
      '/gateways/:id/credentials',
      {
        config: { roles: STAFF },
        schema: {
          operationId: 'rotateGatewayCredentials',
          tags: ['gateways'],
          summary: "Rotate (or re-issue after revocation) a gateway's credentials; the old password stops working",
          params: IdParam,
          response: { 201: GatewayWithCredentials, ...errorResponses(400, 404) },
        },
      },
      async (req, reply) => reply.code(201).send(await registry.rotateGateway(actorOf(req), req.params.id)),
    );
    app.post(
      '/gateways/:id/permit-join',
      {
        config: { roles: GATEWAY_OPERATORS },
        schema: {
          operationId: 'permitJoin',
          tags: ['gateways'],
          summary: "Open the gateway's Zigbee network for pairing",
          description:
            'Publishes {seconds, id} on …/cmd/permit_join and waits for …/cmd/permit_join/reply ' +
            '(503 without a broker in this process, 504 when the gateway does not answer).',
          params: IdParam,
          body: PermitJoin,
          response: { 200: Type.Object({ reply: Type.Unknown() }), ...errorResponses(400, 404, 409, 503, 504) },
        },
      },
      async (req) => ({ reply: await registry.permitJoin(actorOf(req), req.params.id, req.body.seconds) }),
    );
  };
