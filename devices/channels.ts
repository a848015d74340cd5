// Validation of what a gateway publishes besides `up`: `state`, `health`, `events` and
// `cmd/{name}/reply`. One validator per channel, two users: monitoring ignores what fails, ingest
// dead-letters it with the reason. Each check is bounded before it parses (size, nesting depth),
// never throws, and returns a normalised copy holding only the contract's fields, so nothing a
// gateway adds (huge strings, 10^5-element arrays, objects where numbers belong) is kept or used.

import { parseBounded } from './bounded-json.ts';
import { DEVICE_ID_PATTERN, type GatewayEvent, type GatewayHealth, type GatewayState } from './contract.ts';

export { jsonDepth, MAX_JSON_DEPTH, parseBounded } from './bounded-json.ts';

/** Largest state, health, event or command reply accepted, in bytes (a health report of 1000 devices is ~80 KiB). */
export const MAX_CHANNEL_BYTES = 256 * 1024;
/** Entries of a health report's `devices` map. */
export const MAX_HEALTH_DEVICES = 2000;
/** Longest free-text string kept (version, command error). */
export const MAX_TEXT = 256;
/** Event types: a word in snake case (`device_joined`, `outbox_cap_hit`). */
export const EVENT_TYPE_PATTERN = /^[a-z][a-z0-9_]{0,63}$/;

export type ChannelRefusal = 'oversize' | 'invalid_json' | 'invalid_state' | 'invalid_health' | 'invalid_event' | 'invalid_reply';

export type ChannelCheck<T> = { ok: true; value: T } | { ok: false; code: ChannelRefusal; reason: string };

/** A command reply: `id` echoes the command's, `ok` says whether it ran; the rest is the command's own. */
export interface CommandReply {
  id: string | null;
  ok: boolean;
  error?: string;
  [field: string]: unknown;
}

type Obj = Record<string, unknown>;
const isObject = (x: unknown): x is Obj => typeof x === 'object' && x !== null && !Array.isArray(x);

/** A short description of a value for a reason, never the value itself when it is large. */
function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `array of ${value.length}`;
  if (typeof value === 'string') return `string '${value.length > 40 ? `${value.slice(0, 40)}…` : value}'`;
  return typeof value === 'object' ? 'object' : `${typeof value} ${String(value)}`;
}

// Field checks: each returns the reason a field is wrong, or null.
const nonNegInt = (name: string, v: unknown) =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? null : `${name}: expected a non-negative integer, got ${describe(v)}`;
const nonNegNumber = (name: string, v: unknown) =>
  typeof v === 'number' && Number.isFinite(v) && v >= 0 ? null : `${name}: expected a finite non-negative number, got ${describe(v)}`;
const text = (name: string, v: unknown, max = MAX_TEXT) =>
  typeof v === 'string' && v.length <= max ? null : `${name}: expected a string of at most ${max} characters, got ${describe(v)}`;
const bool = (name: string, v: unknown) => (typeof v === 'boolean' ? null : `${name}: expected boolean, got ${describe(v)}`);

/** Checks the optional fields present in `body`; returns the first problem. */
function optional(body: Obj, checks: Record<string, (name: string, v: unknown) => string | null>): string | null {
  for (const [name, check] of Object.entries(checks)) {
    if (body[name] === undefined) continue;
    const problem = check(name, body[name]);
    if (problem) return problem;
  }
  return null;
}

function pick(body: Obj, names: string[]): Obj {
  const out: Obj = {};
  for (const n of names) if (body[n] !== undefined) out[n] = body[n];
  return out;
}

function parseObject(payload: Buffer | string, code: ChannelRefusal, what: string): ChannelCheck<Obj> {
  const p = parseBounded(payload, MAX_CHANNEL_BYTES);
  if (!p.ok) return p;
  if (!isObject(p.value)) return { ok: false, code, reason: `${what}: expected object, got ${describe(p.value)}` };
  return { ok: true, value: p.value };
}

/** `…/state`: `{online, ts?, version?}` (the retained birth message and the last will). */
export function checkState(payload: Buffer | string): ChannelCheck<GatewayState> {
  const p = parseObject(payload, 'invalid_state', 'state');
  if (!p.ok) return p;
  const b = p.value;
  const problem = bool('online', b.online) ?? optional(b, { ts: nonNegInt, version: text });
  if (problem) return { ok: false, code: 'invalid_state', reason: problem };
  return { ok: true, value: pick(b, ['online', 'ts', 'version']) as unknown as GatewayState };
}

const ADAPTER_STATES = ['up', 'down', 'none'];

/** `…/health`: the fields of GatewayHealth, each of its type; `devices` at most MAX_HEALTH_DEVICES entries. */
export function checkHealth(payload: Buffer | string): ChannelCheck<GatewayHealth> {
  const p = parseObject(payload, 'invalid_health', 'health');
  if (!p.ok) return p;
  const b = p.value;
  const fail = (reason: string): ChannelCheck<GatewayHealth> => ({ ok: false, code: 'invalid_health', reason });
  const problem =
    nonNegInt('ts', b.ts) ??
    nonNegNumber('uptimeS', b.uptimeS) ??
    nonNegInt('outboxDepth', b.outboxDepth) ??
    optional(b, {
      cpuPct: nonNegNumber,
      memRssBytes: nonNegNumber,
      diskFreeBytes: nonNegNumber,
      outboxOldestAgeS: nonNegNumber,
      outboxCapHit: bool,
      adapter: (n, v) =>
        typeof v === 'string' && ADAPTER_STATES.includes(v) ? null : `${n}: expected up, down or none, got ${describe(v)}`,
    });
  if (problem) return fail(problem);
  const value = pick(b, [
    'ts',
    'uptimeS',
    'cpuPct',
    'memRssBytes',
    'diskFreeBytes',
    'outboxDepth',
    'outboxOldestAgeS',
    'outboxCapHit',
    'adapter',
  ]) as unknown as GatewayHealth;
  if (b.devices !== undefined) {
    if (!isObject(b.devices)) return fail(`devices: expected object, got ${describe(b.devices)}`);
    const entries = Object.entries(b.devices);
    if (entries.length > MAX_HEALTH_DEVICES) return fail(`devices: ${entries.length} entries exceed ${MAX_HEALTH_DEVICES}`);
    const devices: NonNullable<GatewayHealth['devices']> = {};
    for (const [dev, d] of entries) {
      if (!DEVICE_ID_PATTERN.test(dev)) return fail(`devices: '${describe(dev)}' is not a device id`);
      if (!isObject(d)) return fail(`devices.${dev}: expected object, got ${describe(d)}`);
      const bad = nonNegInt(`devices.${dev}.lastSeen`, d.lastSeen) ?? optional(d, { battery: nonNegNumber, lqi: nonNegNumber });
      if (bad) return fail(bad);
      devices[dev] = pick(d, ['lastSeen', 'battery', 'lqi']) as { lastSeen: number; battery?: number; lqi?: number };
    }
    value.devices = devices;
  }
  return { ok: true, value };
}

/** `…/events`: `{ts, type, dev?, data?}`; `data` is the event's own, bounded by size and depth only. */
export function checkEvent(payload: Buffer | string): ChannelCheck<GatewayEvent> {
  const p = parseObject(payload, 'invalid_event', 'event');
  if (!p.ok) return p;
  const b = p.value;
  const problem =
    nonNegInt('ts', b.ts) ??
    (typeof b.type === 'string' && EVENT_TYPE_PATTERN.test(b.type)
      ? null
      : `type: expected ${EVENT_TYPE_PATTERN}, got ${describe(b.type)}`) ??
    optional(b, {
      dev: (n, v) => (typeof v === 'string' && DEVICE_ID_PATTERN.test(v) ? null : `${n}: expected a device id, got ${describe(v)}`),
      data: (n, v) => (isObject(v) ? null : `${n}: expected object, got ${describe(v)}`),
    });
  if (problem) return { ok: false, code: 'invalid_event', reason: problem };
  return { ok: true, value: pick(b, ['ts', 'type', 'dev', 'data']) as unknown as GatewayEvent };
}

/** `…/cmd/{name}/reply`: `{id, ok, error?, …}`; the command's own fields are bounded by size and depth only. */
export function checkCommandReply(payload: Buffer | string): ChannelCheck<CommandReply> {
  const p = parseObject(payload, 'invalid_reply', 'reply');
  if (!p.ok) return p;
  const b = p.value;
  const problem =
    (b.id === null || b.id === undefined ? null : text('id', b.id, 128)) ??
    bool('ok', b.ok) ??
    optional(b, { error: (n, v) => text(n, v, 4 * MAX_TEXT) });
  if (problem) return { ok: false, code: 'invalid_reply', reason: problem };
  return { ok: true, value: b as CommandReply };
}
