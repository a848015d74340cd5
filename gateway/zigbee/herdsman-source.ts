// Zigbee devices through an in-process zigbee-herdsman Controller and the converters: join →
// interview → definition.configure() → fromZigbee → our kinds (mapping.ts) → readings.
//
// Decisions:
// * The network key, PAN ID and extended PAN ID are generated once per gateway (crypto random,
//   never herdsman's public default key) and kept in <dataDir>/zigbee/network.json. They are
//   never regenerated: a mismatch with the coordinator is reported and the source stays down
//   rather than re-forming the network (which would force re-pairing every device in the home).
// * herdsman's database and coordinator backup live in <dataDir>/zigbee/; after every start a
//   timestamped copy of both goes to <dataDir>/zigbee/backups/ (the newest 10 are kept).
// * herdsman does not reconnect: on `adapterDisconnected` (and on a failed start) we build a
//   new Controller after a backoff (1 s, 2 s, 5 s, 10 s, 30 s, then every 60 s), forever.
// * Converted state is merged per device (like Zigbee2MQTT's cache_state), so a humidity report
//   still carries the last temperature; a reading is made only when the message carries a
//   property its kind reports (a battery-only report updates health, not the time series).

import { Controller, setLogger as setHerdsmanLogger } from 'zigbee-herdsman';
import { findByDevice, setLogger as setConvertersLogger } from 'zigbee-herdsman-converters';
import { randomBytes, randomInt } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../../lib/log.ts';
import type { Kind } from '../../devices/catalogue.ts';
import type { DeviceHealth, Source, SourceSink } from '../source.ts';
import type { DevicesFile } from '../devices-file.ts';
import { exposeProperties, kindFor, qualityFrom, valuesFor, type ModelInfo } from './mapping.ts';

type Definition = NonNullable<Awaited<ReturnType<typeof findByDevice>>>;
type ZhDevice = Parameters<typeof findByDevice>[0];

export interface HerdsmanSourceOptions {
  dataDir: string;
  /** Serial path or tcp://host:port. */
  port: string;
  adapter: 'zstack' | 'ember' | 'deconz' | 'zigate' | 'zboss';
  channel?: number;
  /** Pairing window opened after every (re)start, seconds; 0 = none. */
  permitJoinS?: number;
  devicesFile: () => DevicesFile;
  log: Logger;
  /** Backoff between controller rebuilds, ms. */
  restartDelaysMs?: number[];
}

interface NetworkParams {
  panID: number;
  extendedPanID: number[];
  networkKey: number[];
  channel: number;
  created: string;
}

interface Known {
  state: Record<string, unknown>;
  definition?: Definition | null;
  health: DeviceHealth;
}

const DEFAULT_DELAYS = [1000, 2000, 5000, 10_000, 30_000, 60_000];
const KEEP_BACKUPS = 10;

export class HerdsmanSource implements Source {
  readonly name = 'zigbee';
  private readonly opts: HerdsmanSourceOptions;
  private readonly dir: string;
  private controller: Controller | undefined;
  private sink: SourceSink | undefined;
  private up = false;
  private stopping = false;
  private attempts = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private starting: Promise<void> | undefined;
  private readonly known = new Map<string, Known>();
  /** Messages are converted one at a time, in arrival order. */
  private chain: Promise<void> = Promise.resolve();
  readonly network: NetworkParams;
  /** How the last start went: resumed, reset or restored. */
  lastStart: string | undefined;

  constructor(opts: HerdsmanSourceOptions) {
    this.opts = opts;
    this.dir = join(opts.dataDir, 'zigbee');
    mkdirSync(join(this.dir, 'backups'), { recursive: true });
    this.network = this.loadOrCreateNetwork();
    const log = opts.log.child({ source: 'zigbee' });
    const text = (m: string | (() => string)) => (typeof m === 'function' ? m() : m);
    setHerdsmanLogger({
      debug: (m, ns) => log.trace({ ns }, text(m)),
      info: (m, ns) => log.debug({ ns }, text(m)),
      warning: (m, ns) => log.warn({ ns }, text(m)),
      error: (m, ns) => log.error({ ns }, m),
    });
    setConvertersLogger({
      debug: (m: string | (() => string), ns: string) => log.trace({ ns }, text(m)),
      info: (m: string | (() => string), ns: string) => log.trace({ ns }, text(m)),
      warning: (m: string | (() => string), ns: string) => log.debug({ ns }, text(m)),
      error: (m: string | (() => string), ns: string) => log.warn({ ns }, text(m)),
    });
  }

  async start(sink: SourceSink): Promise<void> {
    this.sink = sink;
    this.stopping = false;
    await this.startController();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    await this.starting?.catch(() => undefined);
    await this.stopController();
    await this.chain.catch(() => undefined);
  }

  state(): 'up' | 'down' {
    return this.up ? 'up' : 'down';
  }

  devices(): Record<string, DeviceHealth> {
    const out: Record<string, DeviceHealth> = {};
    for (const [ieee, k] of this.known) out[ieee] = { ...k.health };
    return out;
  }

  /** Devices herdsman knows (interviewed or not), with model and kind, for the CLI and tests. */
  list(): { dev: string; model?: string; vendor?: string; kind: Kind | null; interview: string }[] {
    if (!this.controller) return [];
    const overrides = this.opts.devicesFile().overrides;
    return [...this.controller.getDevicesIterator((d) => d.type !== 'Coordinator')].map((d) => {
      const def = this.known.get(d.ieeeAddr)?.definition;
      const info = def ? modelInfo(def, d as unknown as ZhDevice) : undefined;
      return {
        dev: d.ieeeAddr,
        model: def?.model,
        vendor: def?.vendor,
        kind: info ? kindFor(info, overrides.get(d.ieeeAddr)) : null,
        interview: String(d.interviewState),
      };
    });
  }

  async permitJoin(seconds: number): Promise<number> {
    const s = Math.max(0, Math.min(254, Math.round(seconds)));
    if (!this.controller || !this.up) throw new Error('the Zigbee adapter is down');
    await this.controller.permitJoin(s);
    return s;
  }

  async removeDevice(ieee: string): Promise<void> {
    const device = this.controller?.getDeviceByIeeeAddr(ieee);
    if (!device) throw new Error(`no Zigbee device ${ieee}`);
    try {
      await device.removeFromNetwork();
    } catch (err) {
      // Asleep or gone: drop it from the database anyway (as Zigbee2MQTT's force remove does).
      this.opts.log.warn(
        { dev: ieee, err: (err as Error).message },
        'zigbee: device did not confirm the leave; removing it from the database',
      );
      device.removeFromDatabase();
    }
    this.known.delete(ieee);
  }

  async restartAdapter(): Promise<void> {
    if (this.restartTimer) clearTimeout(this.restartTimer);
    await this.starting?.catch(() => undefined);
    await this.stopController();
    this.attempts = 0;
    await this.startController();
    if (!this.up) throw new Error('the Zigbee adapter did not come back (retrying in the background)');
  }

  // ── controller lifecycle ───────────────────────────────────────────────────────────────────

  private startController(): Promise<void> {
    const run = async () => {
      const o = this.opts;
      const allow = o.devicesFile().allow;
      const controller = new Controller({
        network: {
          panID: this.network.panID,
          extendedPanID: this.network.extendedPanID,
          channelList: [this.network.channel],
          networkKey: this.network.networkKey,
        },
        serialPort: { path: o.port, adapter: o.adapter },
        databasePath: join(this.dir, 'database.db'),
        databaseBackupPath: join(this.dir, 'database.db.backup'),
        backupPath: join(this.dir, 'coordinator_backup.json'),
        adapter: { disableLED: false },
        acceptJoiningDeviceHandler: async (ieee: string) => {
          const current = this.opts.devicesFile().allow ?? allow;
          const ok = !current || current.has(ieee.toLowerCase());
          if (!ok) this.sink?.event('device_rejected', ieee, { reason: 'not in the allow-list' });
          return ok;
        },
      });
      this.controller = controller;
      this.wire(controller);
      try {
        this.lastStart = await controller.start();
      } catch (err) {
        this.controller = undefined;
        controller.removeAllListeners();
        await controller.stop().catch(() => undefined);
        const msg = (err as Error).message;
        this.opts.log.error({ err: msg, port: o.port }, 'zigbee: the adapter did not start');
        this.sink?.event('adapter_down', undefined, { reason: msg, attempt: this.attempts + 1 });
        this.scheduleRestart();
        return;
      }
      this.up = true;
      this.attempts = 0;
      this.keepBackups();
      for (const d of controller.getDevicesIterator((x) => x.type !== 'Coordinator')) {
        if (!this.known.has(d.ieeeAddr)) this.known.set(d.ieeeAddr, { state: {}, health: { lastSeen: d.lastSeen ?? 0 } });
      }
      this.opts.log.info({ result: this.lastStart, port: o.port, devices: this.known.size }, 'zigbee: adapter up');
      this.sink?.event('adapter_up', undefined, { result: this.lastStart, devices: this.known.size });
      if ((o.permitJoinS ?? 0) > 0) {
        await this.permitJoin(o.permitJoinS!).catch((err: unknown) =>
          this.opts.log.warn({ err: (err as Error).message }, 'zigbee: could not open the pairing window'),
        );
      }
    };
    const p = run().finally(() => {
      if (this.starting === p) this.starting = undefined;
    });
    this.starting = p;
    return p;
  }

  private async stopController(): Promise<void> {
    const c = this.controller;
    this.controller = undefined;
    this.up = false;
    if (!c) return;
    c.removeAllListeners();
    try {
      await c.stop();
    } catch (err) {
      this.opts.log.warn({ err: (err as Error).message }, 'zigbee: controller stop failed');
    }
  }

  private scheduleRestart(): void {
    if (this.stopping) return;
    const delays = this.opts.restartDelaysMs ?? DEFAULT_DELAYS;
    const delay = delays[Math.min(this.attempts, delays.length - 1)]!;
    this.attempts++;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (!this.stopping) void this.startController();
    }, delay);
  }

  private wire(c: Controller): void {
    const sink = () => this.sink!;
    c.on('adapterDisconnected', () => {
      if (this.controller !== c) return;
      this.up = false;
      this.opts.log.error({ port: this.opts.port }, 'zigbee: adapter disconnected; rebuilding the controller');
      sink().event('adapter_down', undefined, { reason: 'adapter disconnected' });
      void (async () => {
        this.controller = undefined;
        c.removeAllListeners();
        await c.stop().catch(() => undefined);
        this.scheduleRestart();
      })();
    });
    c.on('deviceJoined', ({ device }) => {
      this.touch(device.ieeeAddr);
      sink().event('device_joined', device.ieeeAddr, { nwk: device.networkAddress });
    });
    c.on('deviceInterview', ({ status, device }) => {
      this.touch(device.ieeeAddr);
      if (status !== 'successful') {
        sink().event('device_interview', device.ieeeAddr, { status });
        return;
      }
      this.chain = this.chain.then(() => this.onInterviewed(device as unknown as ZhDevice)).catch(() => undefined);
    });
    c.on('deviceAnnounce', ({ device }) => {
      this.touch(device.ieeeAddr);
      sink().event('device_announce', device.ieeeAddr, { nwk: device.networkAddress });
    });
    c.on('deviceLeave', ({ ieeeAddr }) => {
      sink().event('device_left', ieeeAddr);
    });
    c.on('message', (m) => {
      if (m.device.type === 'Coordinator') return;
      this.chain = this.chain
        .then(() => this.onMessage(m))
        .catch((err: unknown) => this.opts.log.warn({ err: (err as Error).message }, 'zigbee: message conversion failed'));
    });
  }

  private async onInterviewed(device: ZhDevice): Promise<void> {
    const ieee = device.ieeeAddr;
    const def = await this.definition(device, true);
    const info = def ? modelInfo(def, device) : undefined;
    const kind = info ? kindFor(info, this.opts.devicesFile().overrides.get(ieee)) : null;
    this.sink!.event('device_interview', ieee, {
      status: 'successful',
      supported: Boolean(def),
      model: def?.model,
      vendor: def?.vendor,
      kind,
      modelID: device.modelID,
      manufacturer: device.manufacturerName,
    });
    if (!def?.configure) return;
    const meta = (device as unknown as { meta: Record<string, unknown> }).meta;
    if (meta.configured !== undefined && meta.configured === (def.version ?? 1)) return;
    const coordinator = this.controller?.getDevicesByType('Coordinator')[0]?.getEndpoint(1);
    if (!coordinator) return;
    try {
      await def.configure(device, coordinator as never, def);
      meta.configured = def.version ?? 1;
      (device as unknown as { save(): void }).save();
      this.sink!.event('device_configured', ieee, { model: def.model });
    } catch (err) {
      this.opts.log.warn(
        { dev: ieee, model: def.model, err: (err as Error).message },
        'zigbee: configure failed (the device may report less)',
      );
      this.sink!.event('device_configure_failed', ieee, { model: def.model, error: (err as Error).message });
    }
  }

  private async definition(device: ZhDevice, refresh = false): Promise<Definition | null> {
    const k = this.entry(device.ieeeAddr);
    if (k.definition !== undefined && !refresh) return k.definition;
    if (!device.modelID && !device.manufacturerName) return null;
    k.definition = (await findByDevice(device)) ?? null;
    return k.definition;
  }

  private async onMessage(m: unknown): Promise<void> {
    const msg = m as unknown as {
      device: ZhDevice;
      cluster: string | number;
      type: string;
      linkquality: number;
      data: unknown;
      endpoint: unknown;
      meta: unknown;
      groupID: number;
    };
    const device = msg.device;
    const ieee = device.ieeeAddr;
    const k = this.entry(ieee);
    k.health.lastSeen = Date.now();
    k.health.lqi = msg.linkquality;
    const def = await this.definition(device);
    if (!def) return;
    const changed: Record<string, unknown> = {};
    for (const fz of def.fromZigbee) {
      if (fz.cluster !== msg.cluster) continue;
      const types = Array.isArray(fz.type) ? (fz.type as string[]) : [fz.type as string];
      if (!types.includes(msg.type)) continue;
      try {
        const out = await fz.convert(def as never, msg as never, (late: Record<string, unknown>) => this.apply(device, def, late), {}, {
          state: k.state,
          device,
          deviceExposesChanged: () => undefined,
        } as never);
        if (out && typeof out === 'object') Object.assign(changed, out);
      } catch (err) {
        this.opts.log.debug({ dev: ieee, cluster: msg.cluster, err: (err as Error).message }, 'zigbee: converter failed');
      }
    }
    if (Object.keys(changed).length === 0) return;
    changed.linkquality = msg.linkquality;
    this.apply(device, def, changed);
  }

  private apply(device: ZhDevice, def: Definition, changed: Record<string, unknown>): void {
    const ieee = device.ieeeAddr;
    const k = this.entry(ieee);
    Object.assign(k.state, changed);
    const q = qualityFrom(k.state);
    if (q.battery !== undefined) k.health.battery = q.battery;
    const kind = kindFor(modelInfo(def, device), this.opts.devicesFile().overrides.get(ieee));
    if (!kind) return;
    const v = valuesFor(kind, k.state, changed);
    if (!v) return;
    this.sink!.reading({ dev: ieee, kind, ts: Date.now(), v, q });
  }

  private entry(ieee: string): Known {
    let k = this.known.get(ieee);
    if (!k) {
      k = { state: {}, health: { lastSeen: 0 } };
      this.known.set(ieee, k);
    }
    return k;
  }

  private touch(ieee: string): void {
    this.entry(ieee).health.lastSeen = Date.now();
  }

  // ── files ──────────────────────────────────────────────────────────────────────────────────

  private loadOrCreateNetwork(): NetworkParams {
    const path = join(this.dir, 'network.json');
    if (existsSync(path)) return JSON.parse(readFileSync(path, 'utf8')) as NetworkParams;
    let extended = [...randomBytes(8)];
    while (extended.every((b) => b === 0xdd) || extended.every((b) => b === 0)) extended = [...randomBytes(8)];
    const channel = this.opts.channel ?? 15;
    if (!(channel >= 11 && channel <= 26)) throw new Error(`zigbee channel must be 11–26, got ${channel}`);
    const params: NetworkParams = {
      panID: randomInt(1, 0xfffe),
      extendedPanID: extended,
      networkKey: [...randomBytes(16)],
      channel,
      created: new Date().toISOString(),
    };
    writeFileSync(`${path}.tmp`, JSON.stringify(params, null, 2), { mode: 0o600 });
    renameSync(`${path}.tmp`, path);
    return params;
  }

  private keepBackups(): void {
    const dir = join(this.dir, 'backups');
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    for (const name of ['coordinator_backup.json', 'database.db']) {
      const from = join(this.dir, name);
      if (existsSync(from)) copyFileSync(from, join(dir, `${stamp}-${name}`));
    }
    const files = readdirSync(dir).sort();
    const stamps = [...new Set(files.map((f) => f.slice(0, 24)))];
    for (const old of stamps.slice(0, Math.max(0, stamps.length - KEEP_BACKUPS))) {
      for (const f of files.filter((x) => x.startsWith(old))) rmSync(join(dir, f), { force: true });
    }
  }
}

function modelInfo(def: Definition, device: ZhDevice): ModelInfo {
  let exposes: unknown = def.exposes;
  if (typeof exposes === 'function') {
    try {
      exposes = (exposes as (d: unknown, o: unknown) => unknown)(device, {});
    } catch {
      exposes = [];
    }
  }
  return { model: def.model, vendor: def.vendor, description: def.description, exposes: exposeProperties(exposes) };
}
