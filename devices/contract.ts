// The v1 wire contract between gateways and the centre: topics, payloads and their validation.
// Every role imports this module; nothing here imports a role. See docs/wire-contract.md.

import { KINDS, QUALITY_FIELDS, isKind, type FieldSpec, type Kind } from './catalogue.ts';
import { SLUG_PATTERN } from '../lib/ids.ts';
import { parseBounded } from './bounded-json.ts';

export const CONTRACT_VERSION = 'v1';
export const TOPIC_ROOT = `lab/${CONTRACT_VERSION}`;

/** Site and gateway ids are topic levels: lowercase, digits and dashes, no MQTT wildcards. */
export const ID_PATTERN = SLUG_PATTERN;
/** Device ids: a Zigbee IEEE address, a serial or a name such as `a-bathroom-toilet`. */
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/**
 * The MQTT client id a gateway connects with: `gw-{site}.{gateway}`. Ids starting with `gw-` are
 * reserved for gateways (broker/acl.ts). The dot cannot occur in a site or gateway id (slugs), so
 * no two gateways share this id, and `gw-{site}.{gateway}.{anything}` is still only theirs — with a
 * dash (`gw-s1-g1`), site `s1` gateway `g1-x` and site `s1-g1` gateway `x` would collide.
 */
export const gatewayClientId = (p: { site: string; gateway: string }) => `gw-${p.site}.${p.gateway}`;

/** Largest batch a gateway may send, in readings and in bytes. Larger payloads are dead-lettered. */
export const MAX_READINGS_PER_BATCH = 1000;
export const MAX_BATCH_BYTES = 512 * 1024;
/** A reading stamped further than this into the future (edge clock) is refused as clock skew. */
export const MAX_FUTURE_SKEW_MS = 24 * 3600 * 1000;
/** Readings older than this are refused as implausible (a reset clock reports 1970). */
export const EARLIEST_TS_MS = Date.UTC(2000, 0, 1);

export type Channel = 'up' | 'ack' | 'state' | 'health' | 'events' | 'cmd';

export const topics = {
  up: (site: string, gw: string) => `${TOPIC_ROOT}/${site}/${gw}/up`,
  ack: (site: string, gw: string) => `${TOPIC_ROOT}/${site}/${gw}/ack`,
  state: (site: string, gw: string) => `${TOPIC_ROOT}/${site}/${gw}/state`,
  health: (site: string, gw: string) => `${TOPIC_ROOT}/${site}/${gw}/health`,
  events: (site: string, gw: string) => `${TOPIC_ROOT}/${site}/${gw}/events`,
  cmd: (site: string, gw: string, name: string) => `${TOPIC_ROOT}/${site}/${gw}/cmd/${name}`,
  cmdReply: (site: string, gw: string, name: string) => `${TOPIC_ROOT}/${site}/${gw}/cmd/${name}/reply`,
  /** Everything a gateway owns; its ACL. */
  gatewayRoot: (site: string, gw: string) => `${TOPIC_ROOT}/${site}/${gw}/#`,
  /** Alerts raised by monitoring for a site (not a gateway topic). */
  alerts: (site: string) => `${TOPIC_ROOT}/${site}/alerts`,
  /** Subscription filters for central services. */
  allUp: `${TOPIC_ROOT}/+/+/up`,
  allState: `${TOPIC_ROOT}/+/+/state`,
  allHealth: `${TOPIC_ROOT}/+/+/health`,
  allEvents: `${TOPIC_ROOT}/+/+/events`,
} as const;

export interface ParsedTopic {
  site: string;
  gateway: string;
  channel: Channel;
  /** Levels after the channel, e.g. ['permit_join', 'reply'] for a command reply. */
  rest: string[];
}

const CHANNELS: readonly Channel[] = ['up', 'ack', 'state', 'health', 'events', 'cmd'];

/** Parses `lab/v1/{site}/{gateway}/{channel}/…`; returns null for anything else. */
export function parseTopic(topic: string): ParsedTopic | null {
  const levels = topic.split('/');
  if (levels.length < 5 || levels[0] !== 'lab' || levels[1] !== CONTRACT_VERSION) return null;
  const [, , site, gateway, channel, ...rest] = levels as [string, string, string, string, string, ...string[]];
  if (!ID_PATTERN.test(site) || !ID_PATTERN.test(gateway)) return null;
  if (!(CHANNELS as readonly string[]).includes(channel)) return null;
  return { site, gateway, channel: channel as Channel, rest };
}

// ── payloads ────────────────────────────────────────────────────────────────────────────────

export type Value = boolean | number | string;
export type Quality = Partial<Record<keyof typeof QUALITY_FIELDS, number>>;

/** One measurement from one device. `seq` is per device, monotonic, persisted by the gateway. */
export interface Reading {
  dev: string;
  kind: Kind;
  seq: number;
  /** When it was measured, epoch milliseconds on the edge clock. */
  ts: number;
  v: Record<string, Value>;
  q?: Quality;
}

/** `lab/v1/{site}/{gw}/up`, QoS 1. `batch` is per gateway, increasing; a resend keeps its number. */
export interface UpBatch {
  gw: string;
  batch: number;
  /** When the gateway sent it, epoch ms. */
  sent: number;
  readings: Reading[];
}

/**
 * `lab/v1/{site}/{gw}/ack`: published by ingest once every reading of `batch` is confirmed by
 * the store (or dead-lettered with its reason). The gateway deletes exactly that batch from its
 * outbox. Acks are per batch, not cumulative: a cumulative "up to N" would let a gateway delete
 * a batch that ingest never saw (ingest restarted between two batches), which loses data.
 */
export interface Ack {
  batch: number;
  /** Readings stored (new), already stored before (duplicates), and dead-lettered. */
  stored: number;
  duplicates: number;
  rejected: number;
}

/** `…/state`, retained: the gateway's birth message, and its last will with `online: false`. */
export interface GatewayState {
  online: boolean;
  ts: number;
  version?: string;
}

/** `…/health`, periodic. */
export interface GatewayHealth {
  ts: number;
  uptimeS: number;
  cpuPct?: number;
  memRssBytes?: number;
  diskFreeBytes?: number;
  outboxDepth: number;
  outboxOldestAgeS?: number;
  outboxCapHit?: boolean;
  adapter?: 'up' | 'down' | 'none';
  devices?: Record<string, { lastSeen: number; battery?: number; lqi?: number }>;
}

/** `…/events`: joins, interviews, leaves, and loud warnings (outbox cap hit). */
export interface GatewayEvent {
  ts: number;
  type:
    | 'device_joined'
    | 'device_interview'
    | 'device_left'
    | 'device_announce'
    | 'outbox_cap_hit'
    | 'adapter_down'
    | 'adapter_up'
    | string;
  dev?: string;
  data?: Record<string, unknown>;
}

/** One line of the simulators' NDJSON output and of replays. */
export interface NdjsonReading extends Reading {
  site: string;
  gw: string;
  home: string;
}

// ── validation ──────────────────────────────────────────────────────────────────────────────

export interface Rejected {
  /** Index in the batch's readings, or -1 for the batch as a whole. */
  index: number;
  reason: string;
  /** The offending reading as received (or the raw payload for a batch-level failure). */
  raw: unknown;
}

/** Why a whole payload was refused, for counting; `reason` says it in words. */
export type BatchRefusal = 'oversize' | 'invalid_json' | 'foreign_gateway' | 'invalid_batch';

export type BatchCheck =
  | { ok: true; batch: UpBatch; accepted: Reading[]; rejected: Rejected[] }
  | { ok: false; code: BatchRefusal; reason: string; batchNumber?: number };

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

function checkField(name: string, spec: FieldSpec, value: unknown): string | null {
  switch (spec.type) {
    case 'boolean':
      if (typeof value !== 'boolean') return `${name}: expected boolean, got ${describe(value)}`;
      return null;
    case 'string':
      if (typeof value !== 'string') return `${name}: expected string, got ${describe(value)}`;
      if (spec.values && !spec.values.includes(value)) return `${name}: '${value}' is not one of ${spec.values.join(', ')}`;
      return null;
    case 'integer':
    case 'number': {
      if (typeof value !== 'number' || !Number.isFinite(value)) return `${name}: expected ${spec.type}, got ${describe(value)}`;
      if (spec.type === 'integer' && !Number.isInteger(value)) return `${name}: expected integer, got ${value}`;
      if (spec.min !== undefined && value < spec.min)
        return `${name}: ${value} is implausible (below ${spec.min}${spec.unit ? ` ${spec.unit}` : ''})`;
      if (spec.max !== undefined && value > spec.max)
        return `${name}: ${value} is implausible (above ${spec.max}${spec.unit ? ` ${spec.unit}` : ''})`;
      return null;
    }
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'string') return `string '${value.length > 40 ? `${value.slice(0, 40)}…` : value}'`;
  return typeof value === 'object' ? 'object' : `${typeof value} ${String(value)}`;
}

/**
 * Checks one reading against the catalogue. Returns the reason it is refused, or null.
 * `now` bounds the timestamp (edge clocks drift; a reading far in the future is clock skew).
 */
export function checkReading(r: unknown, now: number): string | null {
  if (!isObject(r)) return `reading: expected object, got ${describe(r)}`;
  if (typeof r.dev !== 'string' || !DEVICE_ID_PATTERN.test(r.dev))
    return `dev: expected a device id matching ${DEVICE_ID_PATTERN}, got ${describe(r.dev)}`;
  if (!isKind(r.kind)) return `kind: unknown kind ${describe(r.kind)}`;
  if (typeof r.seq !== 'number' || !Number.isSafeInteger(r.seq) || r.seq < 0)
    return `seq: expected a non-negative integer, got ${describe(r.seq)}`;
  if (typeof r.ts !== 'number' || !Number.isSafeInteger(r.ts)) return `ts: expected epoch milliseconds (integer), got ${describe(r.ts)}`;
  if (r.ts < EARLIEST_TS_MS) return `ts: ${new Date(r.ts).toISOString()} is before 2000 (device clock not set?)`;
  if (r.ts > now + MAX_FUTURE_SKEW_MS) return `ts: ${new Date(r.ts).toISOString()} is more than 24 h in the future (clock skew)`;
  if (!isObject(r.v)) return `v: expected object, got ${describe(r.v)}`;
  const spec = KINDS[r.kind];
  const fields: Record<string, FieldSpec> = spec.fields;
  for (const [name, fieldSpec] of Object.entries(fields)) {
    if (fieldSpec.required && !(name in r.v)) return `v.${name}: required for kind ${r.kind}`;
  }
  for (const [name, value] of Object.entries(r.v)) {
    const fieldSpec = fields[name];
    if (!fieldSpec) return `v.${name}: unknown field for kind ${r.kind} (known: ${Object.keys(fields).join(', ')})`;
    const problem = checkField(`v.${name}`, fieldSpec, value);
    if (problem) return problem;
  }
  if (r.q !== undefined) {
    if (!isObject(r.q)) return `q: expected object, got ${describe(r.q)}`;
    const quality: Record<string, FieldSpec> = QUALITY_FIELDS;
    for (const [name, value] of Object.entries(r.q)) {
      const fieldSpec = quality[name];
      if (!fieldSpec) return `q.${name}: unknown quality field (known: ${Object.keys(quality).join(', ')})`;
      const problem = checkField(`q.${name}`, fieldSpec, value);
      if (problem) return problem;
    }
  }
  return null;
}

/**
 * Parses and checks an `up` payload received on the topic of gateway `gateway`. Batch-level
 * problems (not JSON, wrong shape, foreign gateway) refuse the whole payload; reading-level
 * problems refuse only that reading. Both are meant for dead letters, never for the bin.
 */
export function checkBatch(payload: Buffer | string, gateway: string, now = Date.now()): BatchCheck {
  const parsed = parseBounded(payload, MAX_BATCH_BYTES);
  if (!parsed.ok) return parsed;
  const body = parsed.value;
  if (!isObject(body)) return { ok: false, code: 'invalid_batch', reason: `batch: expected object, got ${describe(body)}` };
  const batchNumber = typeof body.batch === 'number' && Number.isSafeInteger(body.batch) && body.batch >= 0 ? body.batch : undefined;
  const fail = (reason: string, code: BatchRefusal = 'invalid_batch'): BatchCheck =>
    batchNumber === undefined ? { ok: false, code, reason } : { ok: false, code, reason, batchNumber };
  if (body.gw !== gateway) return fail(`gw: ${describe(body.gw)} does not match the topic's gateway '${gateway}'`, 'foreign_gateway');
  if (batchNumber === undefined) return fail(`batch: expected a non-negative integer, got ${describe(body.batch)}`);
  if (typeof body.sent !== 'number' || !Number.isFinite(body.sent))
    return fail(`sent: expected epoch milliseconds, got ${describe(body.sent)}`);
  if (!Array.isArray(body.readings)) return fail(`readings: expected array, got ${describe(body.readings)}`);
  if (body.readings.length > MAX_READINGS_PER_BATCH)
    return fail(`readings: ${body.readings.length} exceeds ${MAX_READINGS_PER_BATCH} per batch`, 'oversize');
  const accepted: Reading[] = [];
  const rejected: Rejected[] = [];
  body.readings.forEach((r: unknown, index: number) => {
    const reason = checkReading(r, now);
    if (reason) rejected.push({ index, reason, raw: r });
    else accepted.push(r as Reading);
  });
  return { ok: true, batch: body as unknown as UpBatch, accepted, rejected };
}

export function checkAck(payload: Buffer | string): Ack | null {
  try {
    const body: unknown = JSON.parse(payload.toString());
    if (isObject(body) && typeof body.batch === 'number' && Number.isSafeInteger(body.batch)) return body as unknown as Ack;
  } catch {
    // Falls through: an unreadable ack is no ack, and the gateway resends.
  }
  return null;
}
