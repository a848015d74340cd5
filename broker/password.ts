// Password hashing for MQTT credentials: scrypt from node:crypto (memory-hard, no native
// dependency), a fresh random salt per record, and a self-describing record so that the cost
// parameters can be raised later without invalidating stored hashes:
//
//   scrypt$<N>$<r>$<p>$<salt base64url>$<hash base64url>
//
// Comparison is constant-time (timingSafeEqual). Hashing runs on libuv's thread pool
// (async scrypt), so a connect storm does not block the broker's event loop; the credential
// store adds a cache on top so that the same client reconnecting does not pay scrypt again.

import { randomBytes, scrypt, scryptSync, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/** N=2^14, r=8, p=1: ~16 MiB and tens of milliseconds per hash; OWASP's scrypt baseline is 2^17 for
 * interactive logins, but these are 24-byte random secrets (not guessable words), so the cost only
 * has to make a stolen table useless for human-chosen service passwords, and connects stay cheap. */
export const DEFAULT_COST = { N: 16384, r: 8, p: 1 } as const;
/**
 * N=2^10 (~3 ms) for secrets we generate ourselves (gateway passwords: 24 random bytes, 192 bits).
 * A slow KDF protects guessable passwords; nothing guesses 192 random bits, however fast the hash.
 * What the cost does buy is connect storms: after a broker restart every gateway reconnects at
 * once, and at 2^14 (~80 ms here, more on a busy core) 2,000 gateways took minutes to get back in.
 */
export const GENERATED_SECRET_COST = { N: 1024, r: 8, p: 1 } as const;
const KEY_BYTES = 32;
const SALT_BYTES = 16;
/** Refuse absurd parameters from a tampered record instead of allocating gigabytes. */
const MAX_N = 1 << 20;

type Cost = { N: number; r: number; p: number };

function scryptAsync(password: string, salt: Buffer, keylen: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scrypt(password, salt, keylen, options, (err, key) => (err ? reject(err) : resolve(key))));
}

const maxmem = (c: Cost) => 128 * c.N * c.r * c.p + 1024 * 1024;

function encode(c: Cost, salt: Buffer, hash: Buffer): string {
  return `scrypt$${c.N}$${c.r}$${c.p}$${salt.toString('base64url')}$${hash.toString('base64url')}`;
}

interface Parsed {
  cost: Cost;
  salt: Buffer;
  hash: Buffer;
}

function decode(record: string): Parsed | null {
  const parts = record.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return null;
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  if (![N, r, p].every((x) => Number.isSafeInteger(x) && x > 0)) return null;
  if (N > MAX_N || (N & (N - 1)) !== 0 || r > 32 || p > 16) return null;
  const salt = Buffer.from(parts[4]!, 'base64url');
  const hash = Buffer.from(parts[5]!, 'base64url');
  if (salt.length < 8 || hash.length < 16) return null;
  return { cost: { N, r, p }, salt, hash };
}

export async function hashPassword(password: string, cost: Cost = DEFAULT_COST): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const hash = await scryptAsync(password, salt, KEY_BYTES, { ...cost, maxmem: maxmem(cost) });
  return encode(cost, salt, hash);
}

/** Synchronous variant for start-up configuration (service accounts), never on the connect path. */
export function hashPasswordSync(password: string, cost: Cost = DEFAULT_COST): string {
  const salt = randomBytes(SALT_BYTES);
  return encode(cost, salt, scryptSync(password, salt, KEY_BYTES, { ...cost, maxmem: maxmem(cost) }));
}

/** True when `password` matches `record`. A malformed record never matches (and never throws). */
export async function verifyPassword(password: string, record: string): Promise<boolean> {
  const parsed = decode(record);
  if (!parsed) return false;
  const { cost, salt, hash } = parsed;
  const candidate = await scryptAsync(password, salt, hash.length, { ...cost, maxmem: maxmem(cost) });
  return timingSafeEqual(candidate, hash);
}

/** A random password: 24 bytes (192 bits) of entropy, base64url (32 characters, no padding). */
export function randomPassword(bytes = 24): string {
  if (bytes < 24) throw new Error(`randomPassword: at least 24 bytes of entropy, got ${bytes}`);
  return randomBytes(bytes).toString('base64url');
}
