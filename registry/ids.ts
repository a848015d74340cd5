// Identifiers the registry generates.
//
// Participant pseudonyms are `P-` and six characters of Crockford's base32 (no I, L, O, U: easy to
// read aloud and copy by hand), drawn at random: about 10⁹ values, so a pseudonym says nothing about
// the person and cannot be recomputed from anything about them. The key between pseudonym and
// person is kept by the coordinator, outside this system; the registry never stores a name,
// address or personal number.

import { randomInt, randomBytes } from 'node:crypto';
import { ID_PATTERN } from '../devices/index.ts';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
export const PSEUDONYM_PATTERN = /^P-[0-9A-HJKMNP-TV-Z]{6}$/;

export function newPseudonym(): string {
  let s = 'P-';
  for (let i = 0; i < 6; i++) s += CROCKFORD[randomInt(CROCKFORD.length)];
  return s;
}

/** `prefix-` and 10 random lowercase base32 characters; matches ID_PATTERN. */
export function newId(prefix: string): string {
  const bytes = randomBytes(10);
  let s = '';
  for (const b of bytes) s += CROCKFORD[b & 31]!.toLowerCase();
  return `${prefix}-${s}`;
}

export { ID_PATTERN };
