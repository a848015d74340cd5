// Helpers for the Zigbee tests: a real centre (`testbed up --no-sim` as a child process) with a
// gateway credential and an admin MQTT client, and queries on its embedded store.

import { DatabaseSync } from 'node:sqlite';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { connectAsync, type MqttClient } from 'mqtt';
import { runTestbed, testbed, type CliProcess } from './centre.ts';
import { tempDir, waitFor } from './servers.ts';
import { loadConfig, type Config } from '../../lib/config.ts';

export interface TestCentre {
  proc: CliProcess;
  dir: string;
  mqttUrl: string;
  site: string;
  gateway: string;
  cred: { username: string; password: string };
  adminPassword: string;
  restart(): Promise<void>;
}

export async function startCentre(site: string, gateway: string): Promise<TestCentre> {
  const dir = tempDir('testbed-zb-centre-');
  const adminPassword = 'admin-secret-for-tests';
  const env = { TESTBED_DATA_DIR: dir, TESTBED_ADMIN_PASSWORD: adminPassword };
  const c: TestCentre = {
    proc: await runTestbed(['up', '--no-sim'], env),
    dir,
    mqttUrl: '',
    site,
    gateway,
    cred: { username: '', password: '' },
    adminPassword,
    async restart() {
      c.proc = await runTestbed(['up', '--no-sim'], env, { mqttPort: c.proc.mqttPort, httpPort: c.proc.httpPort });
    },
  };
  c.mqttUrl = `mqtt://127.0.0.1:${c.proc.mqttPort}`;
  c.cred = JSON.parse(await testbed(['gateway', 'add', '--site', site, '--gateway', gateway], env)) as {
    username: string;
    password: string;
  };
  return c;
}

export interface Recorder {
  client: MqttClient;
  messages: { topic: string; body: Record<string, unknown> }[];
  events(type?: string): Record<string, unknown>[];
  close(): Promise<void>;
}

/** An admin client subscribed to everything of one gateway; records what it sees. */
export async function recorder(c: TestCentre): Promise<Recorder> {
  const client = await connectAsync(c.mqttUrl, {
    username: 'svc-admin',
    password: c.adminPassword,
    clientId: `test-admin-${process.pid}-${Date.now()}`,
    reconnectPeriod: 500,
  });
  const messages: Recorder['messages'] = [];
  client.on('message', (topic, payload) => {
    try {
      messages.push({ topic, body: JSON.parse(payload.toString('utf8')) as Record<string, unknown> });
    } catch {
      messages.push({ topic, body: { raw: payload.toString('utf8') } });
    }
  });
  const root = `lab/v1/${c.site}/${c.gateway}`;
  await client.subscribeAsync([`${root}/events`, `${root}/health`, `${root}/state`, `${root}/cmd/+/reply`], { qos: 1 });
  client.on(
    'connect',
    () =>
      void client
        .subscribeAsync([`${root}/events`, `${root}/health`, `${root}/state`, `${root}/cmd/+/reply`], { qos: 1 })
        .catch(() => undefined),
  );
  return {
    client,
    messages,
    events: (type) => messages.filter((m) => m.topic.endsWith('/events') && (!type || m.body.type === type)).map((m) => m.body),
    close: () => client.endAsync(true),
  };
}

export interface StoredRow {
  device: string;
  kind: string;
  seq: number;
  ts: number;
  v: Record<string, unknown>;
  q: Record<string, unknown> | null;
}

export function storedReadings(c: TestCentre): StoredRow[] {
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(join(c.dir, 'readings.sqlite'), { readOnly: true });
  } catch {
    return [];
  }
  try {
    const rows = db
      .prepare('SELECT device, kind, seq, ts, v, q FROM readings WHERE site = ? AND gateway = ? ORDER BY device, seq')
      .all(c.site, c.gateway) as { device: string; kind: string; seq: number; ts: number; v: string; q: string | null }[];
    return rows.map((r) => ({
      device: r.device,
      kind: r.kind,
      seq: Number(r.seq),
      ts: Number(r.ts),
      v: JSON.parse(r.v) as Record<string, unknown>,
      q: r.q ? (JSON.parse(r.q) as Record<string, unknown>) : null,
    }));
  } catch {
    return [];
  } finally {
    db.close();
  }
}

export function byDevice(rows: StoredRow[]): Map<string, StoredRow[]> {
  const m = new Map<string, StoredRow[]>();
  for (const r of rows) m.set(r.device, [...(m.get(r.device) ?? []), r]);
  return m;
}

/** The gateway's environment (as `testbed gateway run` reads it). */
export function gatewayEnv(c: TestCentre, dataDir: string, zigbeePort: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    TESTBED_DATA_DIR: dataDir,
    TESTBED_MQTT_URL: c.mqttUrl,
    TESTBED_GATEWAY_SITE: c.site,
    TESTBED_GATEWAY_ID: c.gateway,
    TESTBED_GATEWAY_USERNAME: c.cred.username,
    TESTBED_GATEWAY_PASSWORD: c.cred.password,
    TESTBED_ZIGBEE_PORT: zigbeePort,
    TESTBED_GATEWAY_HEALTH_INTERVAL_S: '1',
    ...extra,
  };
}

export function gatewayConfig(env: Record<string, string>): Config {
  return loadConfig({ env });
}

export function devicesFile(dir: string, body: unknown): string {
  const path = join(dir, 'devices.json');
  writeFileSync(path, JSON.stringify(body));
  return path;
}

export async function waitForEvents(
  r: Recorder,
  what: string,
  pred: (events: Record<string, unknown>[]) => boolean,
  timeoutMs = 60_000,
): Promise<void> {
  await waitFor(what, async () => pred(r.events()), timeoutMs, 100);
}
