// Zigbee devices through an existing Zigbee2MQTT (its MQTT output, Z2M 2.x topics): the retained
// `<base>/bridge/devices` list gives each friendly name its IEEE address and definition
// (exposes), `<base>/<friendly>` carries the device's (cached, whole) state, and
// `<base>/<friendly>/availability` `{state: online|offline}`. The same model→kind mapping as the
// herdsman source applies; a reading is made from the properties that changed since the last
// message (Z2M repeats the whole state every time), `action` always counting as a change.

import type { Logger } from '../lib/log.ts';
import type { DeviceHealth, Source, SourceSink } from './source.ts';
import type { DevicesFile } from './devices-file.ts';
import { connectLocal } from './local-mqtt.ts';
import { exposeProperties, kindFor, qualityFrom, valuesFor, type ModelInfo } from './zigbee/mapping.ts';

export interface Z2mSourceOptions {
  url: string;
  baseTopic: string;
  devicesFile: () => DevicesFile;
  log: Logger;
}

interface Z2mDevice {
  ieee: string;
  info: ModelInfo;
  state: Record<string, unknown>;
  health: DeviceHealth;
  online?: boolean;
}

const EVENT_TYPES: Record<string, string> = {
  device_joined: 'device_joined',
  device_announce: 'device_announce',
  device_leave: 'device_left',
  device_interview: 'device_interview',
};

export class Z2mSource implements Source {
  readonly name = 'zigbee2mqtt';
  private readonly opts: Z2mSourceOptions;
  private conn: ReturnType<typeof connectLocal> | undefined;
  private sink: SourceSink | undefined;
  private readonly byName = new Map<string, Z2mDevice>();
  private readonly byIeee = new Map<string, Z2mDevice>();
  private bridgeOnline = false;

  constructor(opts: Z2mSourceOptions) {
    this.opts = opts;
  }

  async start(sink: SourceSink): Promise<void> {
    this.sink = sink;
    const base = this.opts.baseTopic;
    this.conn = connectLocal(
      this.opts.url,
      [`${base}/#`],
      (t, p) => this.onMessage(t, p),
      this.opts.log.child({ source: 'zigbee2mqtt' }),
      `testbed-gw-z2m-${process.pid}`,
    );
  }

  async stop(): Promise<void> {
    await this.conn?.close();
    this.conn = undefined;
  }

  state(): 'up' | 'down' {
    return this.conn?.connected() && this.bridgeOnline ? 'up' : 'down';
  }

  devices(): Record<string, DeviceHealth> {
    const out: Record<string, DeviceHealth> = {};
    for (const d of this.byIeee.values()) out[d.ieee] = { ...d.health };
    return out;
  }

  private onMessage(topic: string, payload: Buffer): void {
    const base = `${this.opts.baseTopic}/`;
    if (!topic.startsWith(base)) return;
    const rest = topic.slice(base.length);
    let body: unknown;
    try {
      body = payload.length ? JSON.parse(payload.toString('utf8')) : null;
    } catch {
      if (rest === 'bridge/state') body = { state: payload.toString('utf8') };
      else return;
    }
    if (rest === 'bridge/devices') return this.onDevices(body);
    if (rest === 'bridge/state') {
      this.bridgeOnline = (body as { state?: string } | null)?.state === 'online';
      this.sink?.event(this.bridgeOnline ? 'adapter_up' : 'adapter_down', undefined, { source: 'zigbee2mqtt' });
      return;
    }
    if (rest === 'bridge/event') return this.onBridgeEvent(body);
    if (rest.startsWith('bridge/')) return;
    if (rest.endsWith('/availability')) {
      const d = this.device(rest.slice(0, -'/availability'.length));
      const state = typeof body === 'string' ? body : (body as { state?: string } | null)?.state;
      if (d && (state === 'online' || state === 'offline')) {
        const online = state === 'online';
        if (d.online !== online) this.sink?.event('device_availability', d.ieee, { state });
        d.online = online;
      }
      return;
    }
    if (/\/(set|get)(\/.*)?$/.test(rest)) return;
    const d = this.device(rest);
    if (!d || typeof body !== 'object' || body === null || Array.isArray(body)) return;
    this.onState(d, body as Record<string, unknown>);
  }

  private onDevices(body: unknown): void {
    if (!Array.isArray(body)) return;
    this.byName.clear();
    for (const raw of body as Record<string, unknown>[]) {
      const ieee = typeof raw.ieee_address === 'string' ? raw.ieee_address : undefined;
      if (!ieee || raw.type === 'Coordinator') continue;
      const def = (raw.definition ?? {}) as { model?: string; vendor?: string; description?: string; exposes?: unknown };
      const info: ModelInfo = { exposes: exposeProperties(def.exposes) };
      if (def.model) info.model = def.model;
      if (def.vendor) info.vendor = def.vendor;
      if (def.description) info.description = def.description;
      const existing = this.byIeee.get(ieee);
      const d: Z2mDevice = existing ? Object.assign(existing, { info }) : { ieee, info, state: {}, health: { lastSeen: 0 } };
      this.byIeee.set(ieee, d);
      this.byName.set(typeof raw.friendly_name === 'string' ? raw.friendly_name : ieee, d);
    }
  }

  private onBridgeEvent(body: unknown): void {
    const e = body as { type?: string; data?: Record<string, unknown> } | null;
    const type = e?.type ? EVENT_TYPES[e.type] : undefined;
    if (!type) return;
    const dev = typeof e?.data?.ieee_address === 'string' ? e.data.ieee_address : undefined;
    const data: Record<string, unknown> = { source: 'zigbee2mqtt' };
    if (typeof e?.data?.status === 'string') data.status = e.data.status;
    this.sink?.event(type, dev, data);
  }

  private device(friendly: string): Z2mDevice | undefined {
    return this.byName.get(friendly) ?? this.byIeee.get(friendly);
  }

  private onState(d: Z2mDevice, state: Record<string, unknown>): void {
    const changed: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(state)) {
      if (k === 'action' || k === 'linkquality' || k === 'last_seen' || k === 'elapsed') {
        if (k === 'action' && v !== '' && v !== null) changed[k] = v;
        continue;
      }
      if (!(k in d.state) || JSON.stringify(d.state[k]) !== JSON.stringify(v)) changed[k] = v;
    }
    Object.assign(d.state, state);
    d.health.lastSeen = Date.now();
    const q = qualityFrom(d.state);
    if (q.battery !== undefined) d.health.battery = q.battery;
    if (q.lqi !== undefined) d.health.lqi = q.lqi;
    const kind = kindFor(d.info, this.opts.devicesFile().overrides.get(d.ieee));
    if (!kind) return;
    const v = valuesFor(kind, d.state, changed);
    if (v) this.sink?.reading({ dev: d.ieee, kind, ts: Date.now(), v, q });
  }
}
