// /me, /users and their tokens: admins manage them; anyone may ask who their token acts for.

import { Type } from 'typebox';
import { actorOf, errorResponses, type HttpPlugin } from '../../http/index.ts';
import { IdParam, Page } from '../../lib/schemas.ts';
import type { Registry } from '../registry.ts';
import { IssuedToken, Me, NewToken, NewUser, Token, User, UserPatch } from '../schemas/index.ts';
import { ADMIN, ANYONE } from './roles.ts';

export const userRoutes =
  (registry: Registry): HttpPlugin =>
  async (app) => {
    app.get(
      '/me',
      {
        config: { roles: ANYONE },
        schema: { operationId: 'getMe', tags: ['users'], summary: 'Who this token acts for', response: { 200: Me } },
      },
      async (req) => {
        const { id, role, orgId, tokenId } = actorOf(req);
        return { id, role, orgId, tokenId: tokenId ?? null };
      },
    );

    app.post(
      '/users',
      {
        config: { roles: ADMIN },
        schema: {
          operationId: 'createUser',
          tags: ['users'],
          summary: 'Create a user with a role',
          body: NewUser,
          response: { 201: User, ...errorResponses(400) },
        },
      },
      async (req, reply) => reply.code(201).send(await registry.createUser(actorOf(req), req.body)),
    );
    app.get(
      '/users',
      {
        config: { roles: ADMIN },
        schema: {
          operationId: 'listUsers',
          tags: ['users'],
          summary: 'List users',
          querystring: Type.Object(Page),
          response: { 200: Type.Array(User), ...errorResponses(400) },
        },
      },
      async (req) => registry.listUsers(actorOf(req), req.query),
    );
    app.get(
      '/users/:id',
      {
        config: { roles: ADMIN },
        schema: {
          operationId: 'getUser',
          tags: ['users'],
          summary: 'Read a user',
          params: IdParam,
          response: { 200: User, ...errorResponses(400, 404) },
        },
      },
      async (req) => registry.getUser(actorOf(req), req.params.id),
    );
    app.patch(
      '/users/:id',
      {
        config: { roles: ADMIN },
        schema: {
          operationId: 'updateUser',
          tags: ['users'],
          summary: "Rename or disable a user (a disabled user's tokens stop working)",
          params: IdParam,
          body: UserPatch,
          response: { 200: User, ...errorResponses(400, 404) },
        },
      },
      async (req) => registry.updateUser(actorOf(req), req.params.id, req.body),
    );

    app.post(
      '/users/:id/tokens',
      {
        config: { roles: ADMIN },
        schema: {
          operationId: 'createToken',
          tags: ['users'],
          summary: 'Issue an API token for a user: shown once, stored hashed',
          params: IdParam,
          body: Type.Optional(NewToken),
          response: { 201: IssuedToken, ...errorResponses(400, 404, 409) },
        },
      },
      async (req, reply) => reply.code(201).send(await registry.createToken(actorOf(req), req.params.id, req.body ?? {})),
    );
    app.get(
      '/users/:id/tokens',
      {
        config: { roles: ADMIN },
        schema: {
          operationId: 'listTokens',
          tags: ['users'],
          summary: "A user's tokens (never the secrets)",
          params: IdParam,
          response: { 200: Type.Array(Token), ...errorResponses(400, 404) },
        },
      },
      async (req) => registry.listTokens(actorOf(req), req.params.id),
    );
    app.post(
      '/tokens/:id/revoke',
      {
        config: { roles: ADMIN },
        schema: {
          operationId: 'revokeToken',
          tags: ['users'],
          summary: 'Revoke an API token',
          params: IdParam,
          response: { 200: Token, ...errorResponses(400, 404, 409) },
        },
      },
      async (req) => registry.revokeToken(actorOf(req), req.params.id),
    );
  };
