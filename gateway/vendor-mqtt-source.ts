// Devices that speak MQTT to a broker in the home, each vendor in its own topics and payloads,
// mapped to readings by a file (TESTBED_VENDOR_MQTT_MAP, YAML or JSON):
//
//   mappings:
//     - topic: acme/+/cup/+            # an MQTT filter
//       dev: { topicLevel: 3 }         # device id: a topic level (0-based) or { field: "serial" }
//       prefix: acme-                  # optional, prepended to the device id
//       kind: hydration
//       ts: { field: time, unit: s }   # optional: s | ms | iso; default: when received
//       fields:                        # catalogue field ← payload path + transforms
//         intake_ml: { field: sip.ml, round: true }
//         level_ml: { field: left, scale: 1000, round: true }
//       quality:
//         battery: { field: bat }
//
// Transforms, applied in this order: `map` (lookup table), `equals` (→ boolean), `scale`,
// `offset`, `round`, `not`. A message whose required fields are missing makes no reading (and
// is counted); the first mapping whose filter matches wins.

import { readFileSync, existsSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { isKind, KINDS, type Kind } from '../devices/catalogue.ts';
import type { Quality, Value } from '../devices/contract.ts';
import type { Logger } from '../lib/log.ts';
import type { DeviceHealth, Source, SourceSink } from './source.ts';
import { connectLocal } from './local-mqtt.ts';

export interface FieldRule {
  field: string;
  map?: Record<string, Value>;
  equals?: Value;
  scale?: number;
  offset?: number;
  round?: boolean;
  not?: boolean;
}

export interface VendorMapping {
  topic: string;
  dev: { topicLevel: number } | { field: string };
  prefix?: string;
  kind: Kind;
  ts?: { field: string; unit?: 's' | 'ms' | 'iso' };
  fields: Record<string, FieldRule>;
  quality?: Record<string, FieldRule>;
}

export interface VendorMap {
  mappings: VendorMapping[];
}

export function parseVendorMap(body: unknown, where = 'vendor map'): VendorMap {
  const b = body as { mappings?: unknown };
  if (!b || !Array.isArray(b.mappings)) throw new Error(`${where}: expected {mappings: [...]}`);
  const mappings = b.mappings.map((m: Record<string, unknown>, i: number) => {
    const at = `${where}: mappings[${i}]`;
    if (typeof m.topic !== 'string' || !m.topic) throw new Error(`${at}: topic (an MQTT filter) is required`);
    if (!isKind(m.kind)) throw new Error(`${at}: unknown kind '${String(m.kind)}'`);
    const dev = m.dev as Record<string, unknown> | undefined;
    if (!dev || (typeof dev.topicLevel !== 'number' && typeof dev.field !== 'string'))
      throw new Error(`${at}: dev must be {topicLevel: n} or {field: "path"}`);
    if (typeof m.fields !== 'object' || m.fields === null) throw new Error(`${at}: fields are required`);
    const known = Object.keys(KINDS[m.kind].fields);
    for (const [name, rule] of Object.entries(m.fields as Record<string, FieldRule>)) {
      if (!known.includes(name)) throw new Error(`${at}: '${name}' is not a field of kind ${m.kind} (known: ${known.join(', ')})`);
      if (typeof rule?.field !== 'string') throw new Error(`${at}: fields.${name}.field (a payload path) is required`);
    }
    return m as unknown as VendorMapping;
  });
  return { mappings };
}

export function loadVendorMap(path: string): VendorMap {
  if (!existsSync(path)) throw new Error(`vendor MQTT map ${path} does not exist`);
  return parseVendorMap(parseYaml(readFileSync(path, 'utf8')), path);
}

export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

function path(obj: unknown, dotted: string): unknown {
  let node = obj;
  for (const part of dotted.split('.')) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

export function applyRule(payload: unknown, rule: FieldRule): Value | undefined {
  let v = path(payload, rule.field);
  if (v === undefined || v === null) return undefined;
  if (rule.map) {
    const key = String(v);
    if (!(key in rule.map)) return undefined;
    v = rule.map[key];
  }
  if (rule.equals !== undefined) v = v === rule.equals;
  if (
    typeof v === 'string' &&
    (rule.scale !== undefined || rule.offset !== undefined || rule.round) &&
    v.trim() !== '' &&
    Number.isFinite(Number(v))
  )
    v = Number(v);
  if (typeof v === 'number') {
    let n: number = v;
    if (rule.scale !== undefined) n = n * rule.scale;
    if (rule.offset !== undefined) n = n + rule.offset;
    if (rule.round) n = Math.round(n);
    v = n;
  }
  if (rule.not) v = !v;
  return typeof v === 'boolean' || typeof v === 'number' || typeof v === 'string' ? v : undefined;
}

/** The reading a message makes under a mapping, or a reason why none. */
export function mapMessage(
  m: VendorMapping,
  topic: string,
  payload: unknown,
  now: number,
): { dev: string; kind: Kind; ts: number; v: Record<string, Value>; q?: Quality } | { skip: string } {
  const rawDev = 'topicLevel' in m.dev ? topic.split('/')[m.dev.topicLevel] : path(payload, m.dev.field);
  if (rawDev === undefined || rawDev === null || rawDev === '') return { skip: 'no device id' };
  const dev = `${m.prefix ?? ''}${String(rawDev)}`;
  const v: Record<string, Value> = {};
  for (const [name, rule] of Object.entries(m.fields)) {
    const value = applyRule(payload, rule);
    if (value !== undefined) v[name] = value;
  }
  for (const [name, spec] of Object.entries(KINDS[m.kind].fields)) {
    if ((spec as { required?: boolean }).required && !(name in v)) return { skip: `required field ${name} missing` };
  }
  let ts = now;
  if (m.ts) {
    const raw = path(payload, m.ts.field);
    const unit = m.ts.unit ?? 'ms';
    const t = unit === 'iso' ? Date.parse(String(raw)) : typeof raw === 'number' ? (unit === 's' ? raw * 1000 : raw) : Number.NaN;
    if (Number.isFinite(t)) ts = Math.round(t);
  }
  const out: { dev: string; kind: Kind; ts: number; v: Record<string, Value>; q?: Quality } = { dev, kind: m.kind, ts, v };
  if (m.quality) {
    const q: Quality = {};
    for (const [name, rule] of Object.entries(m.quality)) {
      const value = applyRule(payload, rule);
      if (typeof value === 'number') q[name as keyof Quality] = Math.round(value);
    }
    if (Object.keys(q).length) out.q = q;
  }
  return out;
}

export interface VendorMqttSourceOptions {
  url: string;
  map: VendorMap;
  log: Logger;
}

export class VendorMqttSource implements Source {
  readonly name = 'vendor-mqtt';
  private readonly opts: VendorMqttSourceOptions;
  private map: VendorMap;
  private conn: ReturnType<typeof connectLocal> | undefined;
  private sink: SourceSink | undefined;
  private readonly seen = new Map<string, DeviceHealth>();
  /** Messages that matched a mapping but made no reading, by reason. */
  readonly skipped = new Map<string, number>();

  constructor(opts: VendorMqttSourceOptions) {
    this.opts = opts;
    this.map = opts.map;
  }

  setMap(map: VendorMap): void {
    this.map = map;
    // New filters take effect on the subscription too.
    this.conn?.client.subscribe(
      map.mappings.map((m) => m.topic),
      { qos: 1 },
    );
  }

  async start(sink: SourceSink): Promise<void> {
    this.sink = sink;
    this.conn = connectLocal(
      this.opts.url,
      this.map.mappings.map((m) => m.topic),
      (t, p) => this.onMessage(t, p),
      this.opts.log.child({ source: 'vendor-mqtt' }),
      `testbed-gw-vendor-${process.pid}`,
    );
  }

  async stop(): Promise<void> {
    await this.conn?.close();
    this.conn = undefined;
  }

  state(): 'up' | 'down' {
    return this.conn?.connected() ? 'up' : 'down';
  }

  devices(): Record<string, DeviceHealth> {
    return Object.fromEntries([...this.seen].map(([k, v]) => [k, { ...v }]));
  }

  private onMessage(topic: string, payload: Buffer): void {
    const m = this.map.mappings.find((x) => topicMatches(x.topic, topic));
    if (!m) return;
    let body: unknown;
    try {
      body = JSON.parse(payload.toString('utf8'));
    } catch {
      this.count('not JSON');
      return;
    }
    const r = mapMessage(m, topic, body, Date.now());
    if ('skip' in r) {
      this.count(r.skip);
      return;
    }
    const h: DeviceHealth = { lastSeen: Date.now() };
    if (r.q?.battery !== undefined) h.battery = r.q.battery;
    this.seen.set(r.dev, h);
    this.sink?.reading(r);
  }

  private count(reason: string): void {
    this.skipped.set(reason, (this.skipped.get(reason) ?? 0) + 1);
    if (this.skipped.get(reason) === 1) this.opts.log.warn({ reason }, 'vendor mqtt: a message made no reading');
  }
}
