// A real `testbed up --no-sim` (child process) with a gateway credential and an admin token, for
// tests that attack the centre as a gateway would: only MQTT with that credential and the HTTP API.

import mqtt, { type MqttClient } from 'mqtt';
import { rmSync } from 'node:fs';
import { runTestbed, testbed, type CliProcess } from './centre.ts';
import { tempDir, waitFor } from './servers.ts';

export interface Hostile {
  centre: CliProcess;
  env: Record<string, string>;
  token: string;
  /** Connects a gateway of `site` (provisioned on first use) with its own credential. */
  gateway(site: string, gw: string): Promise<MqttClient>;
  get(path: string): Promise<{ status: number; body: unknown }>;
  /** Whether the child process is still running. */
  alive(): boolean;
  stop(): Promise<void>;
}

export async function startHostile(extraEnv: Record<string, string> = {}, nodeOptions?: string): Promise<Hostile> {
  const dir = tempDir('testbed-security-');
  const env: Record<string, string> = { TESTBED_DATA_DIR: dir, ...extraEnv };
  const centre = await runTestbed(['up', '--no-sim'], { ...env, ...(nodeOptions ? { NODE_OPTIONS: nodeOptions } : {}) });
  const token = (JSON.parse(await testbed(['token', 'create', '--role', 'admin'], env)) as { token: string }).token;
  const clients: MqttClient[] = [];
  const url = `mqtt://127.0.0.1:${centre.mqttPort}`;
  return {
    centre,
    env,
    token,
    async gateway(site, gw) {
      const cred = JSON.parse(await testbed(['gateway', 'add', '--site', site, '--gateway', gw], env)) as {
        username: string;
        password: string;
      };
      const c = await mqtt.connectAsync(url, { ...cred, clean: true, reconnectPeriod: 0, connectTimeout: 5000 });
      clients.push(c);
      return c;
    },
    async get(path) {
      const res = await fetch(`${centre.httpUrl}${path}`, { headers: { authorization: `Bearer ${token}` } });
      const text = await res.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // not JSON: kept as text for the failure message
      }
      return { status: res.status, body };
    },
    alive: () => centre.proc.exitCode === null && centre.proc.signalCode === null,
    async stop() {
      await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
      await centre.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** An `up` payload with one reading. */
export function upBatch(gw: string, batch: number, reading: Record<string, unknown>): string {
  return JSON.stringify({ gw, batch, sent: Date.now(), readings: [reading] });
}

/** Waits until GET /api/v1/alerts lists an alert matching `match`; returns it. */
export async function alertFor(h: Hostile, what: string, match: (a: Record<string, unknown>) => boolean, ms = 15_000) {
  let found: Record<string, unknown> | undefined;
  await waitFor(
    what,
    async () => {
      const r = await h.get('/api/v1/alerts?limit=500');
      const list = (Array.isArray(r.body) ? r.body : []) as Record<string, unknown>[];
      found = list.find(match);
      return found !== undefined;
    },
    ms,
    200,
  );
  return found!;
}
