// Shared by the broker tests: a broker on ephemeral ports in a temp data dir, real clients
// (mqtt.js and Mosquitto's CLI), and readers for the refusal log and counter.

import { Writable } from 'node:stream';
import { rmSync } from 'node:fs';
import { pino } from 'pino';
import mqtt, { type MqttClient, type IClientOptions } from 'mqtt';
import { loadConfig, type Config } from '../../lib/config.ts';
import { startBroker, type BrokerHandle, type ServiceAccount } from '../../broker/index.ts';
import { CredentialStore } from '../../broker/credentials.ts';
import { randomPassword } from '../../broker/password.ts';
import { withTimeout } from '../../lib/timeout.ts';
import { tempDir } from './servers.ts';
import { localMetricSum } from './metrics.ts';

export interface TestBroker {
  handle: BrokerHandle;
  config: Config;
  dir: string;
  store: CredentialStore;
  services: Record<'ingest' | 'monitor' | 'admin', ServiceAccount>;
  logs: Record<string, unknown>[];
  url: string;
  stop(): Promise<void>;
}

export async function startTestBroker(overrides: Partial<Config> = {}): Promise<TestBroker> {
  const dir = tempDir('testbed-broker-');
  const config = loadConfig({
    env: {},
    overrides: {
      dataDir: dir,
      mqttHost: '127.0.0.1',
      mqttPort: 0,
      mqttWsPort: 0 /* disabled unless a test passes a port */,
      mqttTlsPort: 0,
      ...overrides,
    },
  });
  const store = new CredentialStore(dir);
  const services = {
    ingest: { username: 'svc-ingest', password: randomPassword(), role: 'ingest' as const },
    monitor: { username: 'svc-monitor', password: randomPassword(), role: 'monitor' as const },
    admin: { username: 'svc-admin', password: randomPassword(), role: 'admin' as const },
  };
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split('\n')) if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const log = pino({ level: 'info' }, sink);
  const handle = await startBroker({ config, credentials: store, services: Object.values(services), log });
  return {
    handle,
    config,
    dir,
    store,
    services,
    logs,
    url: `mqtt://127.0.0.1:${handle.ports.tcp}`,
    async stop() {
      await handle.close();
      store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** mqtt.js over 3.1.1 without reconnects, so a refusal is final and observable. */
export function connect(url: string, username: string, password: string, extra: IClientOptions = {}): Promise<MqttClient> {
  return mqtt.connectAsync(url, { username, password, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000, ...extra });
}

/** The CONNACK refusal mqtt.js reports (its `code`), or 'connected'. */
export async function connectOutcome(
  url: string,
  username: string,
  password: string,
  extra: IClientOptions = {},
): Promise<number | 'connected' | string> {
  try {
    const c = await connect(url, username, password, extra);
    await c.endAsync();
    return 'connected';
  } catch (err) {
    const code = (err as { code?: number | string }).code;
    return code ?? (err as Error).message;
  }
}

export async function closed(client: MqttClient, timeoutMs = 5000): Promise<void> {
  if (!client.connected && client.disconnected) return;
  await withTimeout(new Promise<void>((resolve) => client.once('close', () => resolve())), timeoutMs, 'client was not disconnected');
}

export async function refusals(reason: string): Promise<number> {
  return localMetricSum('testbed_broker_refusals_total', { reason });
}

/** Collects messages on a subscribed client. */
export function collect(client: MqttClient): { topic: string; payload: string }[] {
  const got: { topic: string; payload: string }[] = [];
  client.on('message', (topic, payload) => got.push({ topic, payload: payload.toString() }));
  return got;
}
