// What the entity schemas share: the timestamps every row carries, and the pieces an entity's
// create and patch bodies are composed of, taken from the entity itself (so a constraint written
// on the entity holds for its bodies too).
//
// NoInfer in the return types: spread into Type.Object({...}), TypeScript would otherwise infer
// the keys from the expected result (all of them) instead of from the list given.

import { type TObject, type TOptional, type TProperties, Type } from 'typebox';
import { Body } from '../../lib/schemas.ts';

export const Stamps = { createdAt: Type.Integer(), updatedAt: Type.Integer() };

/** The named fields of the entity, as they are. */
export function fieldsOf<T extends TProperties, K extends keyof T>(entity: TObject<T>, keys: readonly K[]): Pick<T, NoInfer<K>> {
  return Object.fromEntries(keys.map((k) => [k, entity.properties[k]])) as Pick<T, K>;
}

/** The named fields of the entity, each optional. */
export function optionalFieldsOf<T extends TProperties, K extends keyof T>(
  entity: TObject<T>,
  keys: readonly K[],
): { [P in NoInfer<K>]: TOptional<T[P]> } {
  return Object.fromEntries(keys.map((k) => [k, Type.Optional(entity.properties[k]!)])) as { [P in K]: TOptional<T[P]> };
}

/** A patch body: the named fields, each optional; unknown fields are refused (a typo is named in the 400). */
export const patchOf = <T extends TProperties, K extends keyof T>(entity: TObject<T>, keys: readonly K[]) =>
  Body(optionalFieldsOf(entity, keys));
