// The edge gateway: a durable outbox in the data dir, one uplink (one MQTT connection to the
// centre for batches, state, health, events and commands), and the sources (Zigbee through
// herdsman, Zigbee2MQTT, vendor MQTT). Every reading goes into the outbox before anything else
// happens to it; the uplink moves it to the centre and deletes it only when acked.

import { statfsSync } from 'node:fs';
import { join } from 'node:path';
import { checkReading, topics, type GatewayEvent, type GatewayHealth, type Reading } from '../devices/contract.ts';
import type { Config } from '../lib/config.ts';
import type { Logger } from '../lib/log.ts';
import { counter } from '../lib/metrics.ts';
import { OutboxFullError, SqliteOutbox } from './outbox.ts';
import { Uplink } from './uplink.ts';
import { loadDevicesFile, type DevicesFile } from './devices-file.ts';
import type { DeviceHealth, Source, SourceSink } from './source.ts';
import type { HerdsmanSource, HerdsmanSourceOptions } from './zigbee/herdsman-source.ts';
import { Z2mSource } from './z2m-source.ts';
import { VendorMqttSource, loadVendorMap } from './vendor-mqtt-source.ts';

export interface GatewayOptions {
  log: Logger;
  /** Override the Zigbee rebuild backoff (tests). */
  zigbeeRestartDelaysMs?: number[];
  /** Uplink resend timeout (tests use short ones). */
  resendAfterMs?: number;
}

export interface Gateway {
  readonly outbox: SqliteOutbox;
  readonly uplink: Uplink;
  readonly zigbee: HerdsmanSource | undefined;
  readonly sources: Source[];
  health(): GatewayHealth;
  /** Runs a command as if it came over MQTT; returns the reply. */
  command(name: string, body: Record<string, unknown>): Promise<Record<string, unknown>>;
  publishHealth(): Promise<void>;
  stop(): Promise<void>;
}

const metrics = {
  accepted: counter({ name: 'testbed_gateway_readings_accepted_total', help: 'Readings accepted into the gateway outbox.' }),
  refused: counter({ name: 'testbed_gateway_readings_refused_total', help: 'Readings refused because the outbox was full.' }),
};

export function gatewayIdentity(cfg: Config): { site: string; gateway: string; url: string } {
  if (!cfg.gatewaySite) throw new Error('TESTBED_GATEWAY_SITE must be set (the site id this gateway belongs to)');
  if (!cfg.gatewayId) throw new Error("TESTBED_GATEWAY_ID must be set (this gateway's id within its site)");
  return { site: cfg.gatewaySite, gateway: cfg.gatewayId, url: cfg.mqttUrl || `mqtt://127.0.0.1:${cfg.mqttPort}` };
}

export async function startGateway(cfg: Config, opts: GatewayOptions): Promise<Gateway> {
  const { site, gateway, url } = gatewayIdentity(cfg);
  const log = opts.log.child({ site, gateway });
  const started = Date.now();
  const outbox = new SqliteOutbox(join(cfg.dataDir, 'outbox.db'), { maxReadings: cfg.gatewayOutboxMax });
  const uplink = new Uplink({
    url,
    ...(cfg.gatewayUsername ? { username: cfg.gatewayUsername } : {}),
    ...(cfg.gatewayPassword ? { password: cfg.gatewayPassword } : {}),
    site,
    gateway,
    outbox,
    log: opts.log,
    ...(opts.resendAfterMs ? { resendAfterMs: opts.resendAfterMs } : {}),
  });

  let devicesFile: DevicesFile = loadDevicesFile(cfg.gatewayDevicesFile);
  const eventTopic = topics.events(site, gateway);
  const event = (type: GatewayEvent['type'], dev?: string, data?: Record<string, unknown>) => {
    const e: GatewayEvent = { ts: Date.now(), type, ...(dev ? { dev } : {}), ...(data ? { data } : {}) };
    log.info({ event: type, dev, ...data }, `event ${type}`);
    void uplink.publish(eventTopic, e, { qos: 1 });
  };

  let lastCapEvent = 0;
  let refusedSinceEvent = 0;
  const warnedInvalid = new Set<string>();
  const sink: SourceSink = {
    reading(r: Omit<Reading, 'seq'>) {
      const problem = checkReading({ ...r, seq: 0 }, Date.now());
      if (problem && !warnedInvalid.has(`${r.dev}:${r.kind}`)) {
        // Still queued: the centre dead-letters it with the reason, where it is kept and counted.
        warnedInvalid.add(`${r.dev}:${r.kind}`);
        log.warn({ dev: r.dev, kind: r.kind, problem }, 'a reading does not match the catalogue; the centre will dead-letter it');
      }
      try {
        outbox.accept(r);
        metrics.accepted.inc();
      } catch (err) {
        if (!(err instanceof OutboxFullError)) throw err;
        metrics.refused.inc();
        refusedSinceEvent++;
        if (Date.now() - lastCapEvent > 60_000) {
          log.error(
            { depth: err.depth, max: err.maxReadings, refused: refusedSinceEvent },
            'OUTBOX FULL: new readings are being refused (nothing queued is dropped)',
          );
          event('outbox_cap_hit', r.dev, { depth: err.depth, max: err.maxReadings, refused: refusedSinceEvent });
          lastCapEvent = Date.now();
          refusedSinceEvent = 0;
        }
        return;
      }
      uplink.kick();
    },
    event,
  };

  const sources: Source[] = [];
  let zigbee: HerdsmanSource | undefined;
  if (cfg.zigbeePort) {
    // Loaded only when Zigbee is configured: herdsman and the converters cost ~50 MB.
    const { HerdsmanSource } = await import('./zigbee/herdsman-source.ts');
    zigbee = new HerdsmanSource({
      dataDir: cfg.dataDir,
      port: cfg.zigbeePort,
      adapter: cfg.zigbeeAdapter as HerdsmanSourceOptions['adapter'],
      channel: cfg.zigbeeChannel,
      permitJoinS: cfg.zigbeePermitJoinS,
      devicesFile: () => devicesFile,
      log,
      ...(opts.zigbeeRestartDelaysMs ? { restartDelaysMs: opts.zigbeeRestartDelaysMs } : {}),
    });
    sources.push(zigbee);
  }
  if (cfg.z2mBaseTopic) {
    if (!cfg.localMqttUrl) throw new Error('TESTBED_Z2M_BASE_TOPIC needs TESTBED_LOCAL_MQTT_URL (the broker Zigbee2MQTT publishes to)');
    sources.push(new Z2mSource({ url: cfg.localMqttUrl, baseTopic: cfg.z2mBaseTopic, devicesFile: () => devicesFile, log }));
  }
  let vendor: VendorMqttSource | undefined;
  if (cfg.vendorMqttMap) {
    if (!cfg.localMqttUrl) throw new Error('TESTBED_VENDOR_MQTT_MAP needs TESTBED_LOCAL_MQTT_URL (the broker the devices publish to)');
    vendor = new VendorMqttSource({ url: cfg.localMqttUrl, map: loadVendorMap(cfg.vendorMqttMap), log });
    sources.push(vendor);
  }

  // ── commands ───────────────────────────────────────────────────────────────────────────────
  const needZigbee = () => {
    if (!zigbee) throw new Error('this gateway has no Zigbee adapter (TESTBED_ZIGBEE_PORT is empty)');
    return zigbee;
  };
  const handlers: Record<string, (body: Record<string, unknown>) => Promise<Record<string, unknown>>> = {
    permit_join: async (b) => {
      const seconds = typeof b.seconds === 'number' ? b.seconds : typeof b.time === 'number' ? b.time : 60;
      return { seconds: await needZigbee().permitJoin(seconds) };
    },
    remove_device: async (b) => {
      if (typeof b.dev !== 'string') throw new Error('remove_device needs {dev: "<ieee address>"}');
      await needZigbee().removeDevice(b.dev);
      return { dev: b.dev };
    },
    reload_config: async () => {
      devicesFile = loadDevicesFile(cfg.gatewayDevicesFile);
      if (vendor && cfg.vendorMqttMap) vendor.setMap(loadVendorMap(cfg.vendorMqttMap));
      for (const s of sources) await s.reload?.();
      return { overrides: devicesFile.overrides.size, allow: devicesFile.allow ? devicesFile.allow.size : null };
    },
    restart_adapter: async () => {
      await needZigbee().restartAdapter();
      return { adapter: needZigbee().state() };
    },
  };
  const command = async (name: string, body: Record<string, unknown>): Promise<Record<string, unknown>> => {
    const id = body.id;
    const handler = handlers[name];
    if (!handler) return { id, ok: false, error: `unknown command '${name}' (known: ${Object.keys(handlers).join(', ')})` };
    try {
      return { id, ok: true, ...(await handler(body)) };
    } catch (err) {
      return { id, ok: false, error: (err as Error).message };
    }
  };
  uplink.onCommand((name, payload) => {
    let body: Record<string, unknown> = {};
    try {
      const parsed: unknown = JSON.parse(payload.toString('utf8') || '{}');
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) body = parsed as Record<string, unknown>;
    } catch {
      void uplink.publish(topics.cmdReply(site, gateway, name), { id: null, ok: false, error: 'command payload is not JSON' }, { qos: 1 });
      return;
    }
    log.info({ command: name, id: body.id }, 'command received');
    void command(name, body).then((reply) => uplink.publish(topics.cmdReply(site, gateway, name), reply, { qos: 1 }));
  });

  // ── health ─────────────────────────────────────────────────────────────────────────────────
  let lastCpu = process.cpuUsage();
  let lastCpuAt = Date.now();
  const health = (): GatewayHealth => {
    const now = Date.now();
    const cpu = process.cpuUsage(lastCpu);
    const cpuPct = now > lastCpuAt ? Math.round(((cpu.user + cpu.system) / 1000 / (now - lastCpuAt)) * 1000) / 10 : 0;
    lastCpu = process.cpuUsage();
    lastCpuAt = now;
    const s = outbox.stats();
    let diskFreeBytes: number | undefined;
    try {
      const fs = statfsSync(cfg.dataDir);
      diskFreeBytes = Number(fs.bavail) * Number(fs.bsize);
    } catch {
      diskFreeBytes = undefined;
    }
    const devices: Record<string, DeviceHealth> = {};
    for (const src of sources) Object.assign(devices, src.devices());
    const h: GatewayHealth = {
      ts: now,
      uptimeS: Math.round((now - started) / 1000),
      cpuPct,
      memRssBytes: process.memoryUsage.rss(),
      outboxDepth: s.depth,
      outboxCapHit: s.capHit,
      adapter: zigbee ? zigbee.state() : 'none',
      devices,
    };
    if (diskFreeBytes !== undefined) h.diskFreeBytes = diskFreeBytes;
    if (s.oldestTs !== null) h.outboxOldestAgeS = Math.max(0, Math.round((now - s.oldestTs) / 1000));
    return h;
  };
  const healthTopic = topics.health(site, gateway);
  const publishHealth = async () => {
    await uplink.publish(healthTopic, health(), { qos: 0 });
  };
  const healthTimer = setInterval(() => void publishHealth(), cfg.gatewayHealthIntervalS * 1000);
  healthTimer.unref();

  await uplink.start();
  for (const src of sources) {
    await src.start(sink);
  }
  log.info({ url, sources: sources.map((s) => s.name), backlog: outbox.stats().depth }, 'gateway: running');

  let stopped = false;
  return {
    outbox,
    uplink,
    zigbee,
    sources,
    health,
    command,
    publishHealth,
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(healthTimer);
      for (const src of sources)
        await src.stop().catch((err: unknown) => log.warn({ source: src.name, err: (err as Error).message }, 'source stop failed'));
      await uplink.stop();
      outbox.close();
    },
  };
}
