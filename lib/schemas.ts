// TypeBox helpers shared by the entity schemas (registry) and every role's routes. One TypeBox
// schema validates a request, shapes the reply (fast-json-stringify drops what it does not name)
// and documents the route. Pure schema code: the registry uses it without importing the web layer.

import { type Static, type TSchema, Type } from 'typebox';
import { SLUG_PATTERN } from './ids.ts';

/**
 * Nullable as ajv's `nullable: true` where the schema has a type: ajv then accepts null as is. (As
 * `anyOf [T, null]`, fastify's type coercion turns a null into 0 or "" in the first branch before
 * the second is tried.) The OpenAPI 3.1 document shows it as a type list with "null".
 */
export const Nullable = <T extends TSchema>(t: T) =>
  'type' in t ? Type.Unsafe<Static<T> | null>({ ...t, nullable: true }) : Type.Union([t, Type.Null()]);

/** A point in time as epoch milliseconds. */
export const Ts = (description: string) => Type.Integer({ minimum: 0, description: `${description} (epoch ms)` });

/** An id chosen by people: a slug. */
export const Slug = (what: string) =>
  Type.String({ pattern: SLUG_PATTERN.source, description: `${what} id: lowercase letters, digits, dashes; 1–63 characters` });

export const Text = (description?: string) => Type.String({ minLength: 1, maxLength: 500, ...(description ? { description } : {}) });

export const Strings = (description: string) => Type.Array(Type.String({ minLength: 1, maxLength: 100 }), { maxItems: 100, description });

/** A request body: unknown fields are refused (a typo is named in the 400, not dropped silently). */
export const Body = <P extends Record<string, TSchema>>(props: P) => Type.Object(props, { additionalProperties: false });

export const IdParam = Type.Object({ id: Type.String({ minLength: 1, maxLength: 200 }) });

export const Page = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, default: 1000 })),
  offset: Type.Optional(Type.Integer({ minimum: 0 })),
};
