// Zigbee2MQTT measured beside our gateway (bench/gateway.ts, part d): the same emulator, the same
// devices, Mosquitto as its broker; RSS from /proc of its process, reports from the emulator's count.
// Zigbee2MQTT is GPL-3.0 and never a dependency of this repo: it is installed aside and run from there.

import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import { ZStackEmulator } from '../../simulators/zstack/emulator.ts';
import { startMosquitto, tempDir, waitFor, type ServerHandle } from '../../test/support/servers.ts';
import { settledWithin, sleep } from '../../lib/timeout.ts';
import { assertAlive, sampleWindow, type RssWindow } from './proc.ts';

export interface Z2mRun {
  /** Where Zigbee2MQTT is installed (its cwd) and its entry file. */
  dir: string;
  index: string;
  /** The virtual devices (models and IEEE addresses), as fleet() gives them. */
  devices: { model: string; ieee: string }[];
  /** The emulator's base report interval, ms. */
  intervalMs: number;
  /** The measuring window while the devices report, seconds. */
  windowS: number;
  /** Stops what was started, run by the caller at the end (last in, first out). */
  cleanup: (() => Promise<unknown>)[];
  say: (message: string) => void;
}

export interface Z2mMeasurement {
  version: string;
  idle: RssWindow;
  busy: RssWindow;
  /** Device reports the emulator sent, and MQTT messages Zigbee2MQTT published, in the busy window. */
  reports: number;
  messages: number;
  pairS: number;
}

/** Zigbee2MQTT on a fresh emulator with the run's devices: RSS idle and busy, messages per report, pairing time. */
export async function measureZ2m(o: Z2mRun): Promise<Z2mMeasurement> {
  const { dir, index, devices, cleanup, say } = o;
  const n = devices.length;
  const mosq: ServerHandle = await startMosquitto();
  cleanup.push(() => mosq.stop());
  const mqttUrl = `mqtt://127.0.0.1:${mosq.port}`;
  const emu = new ZStackEmulator({ devices, intervalMs: o.intervalMs, joinSpacingMs: 100 });
  await emu.start();
  cleanup.push(() => emu.stop());
  const data = tempDir('testbed-bench-z2m-');
  writeFileSync(
    join(data, 'configuration.yaml'),
    [
      'homeassistant:',
      '  enabled: false',
      'frontend:',
      '  enabled: false',
      'mqtt:',
      '  base_topic: zigbee2mqtt',
      `  server: ${mqttUrl}`,
      'serial:',
      `  port: ${emu.url}`,
      '  adapter: zstack',
      'advanced:',
      '  network_key: GENERATE',
      '  pan_id: GENERATE',
      '  ext_pan_id: GENERATE',
      '  log_level: warning',
      '  log_output: [console]',
      'version: 4',
      '',
    ].join('\n'),
  );
  const client: MqttClient = await connectAsync(mqttUrl, { clientId: `bench-z2m-${process.pid}` });
  cleanup.push(() => client.endAsync(true));
  let online = false;
  let messages = 0;
  const interviewed = new Set<string>();
  const reporting = new Set<string>();
  let version = '2.x';
  client.on('message', (topic, payload) => {
    if (topic === 'zigbee2mqtt/bridge/state') online = payload.toString().includes('online');
    else if (topic === 'zigbee2mqtt/bridge/info') {
      try {
        version = String((JSON.parse(payload.toString()) as { version?: string }).version ?? version);
      } catch {
        // keep the default
      }
    } else if (topic === 'zigbee2mqtt/bridge/event') {
      try {
        const e = JSON.parse(payload.toString()) as { type?: string; data?: { status?: string; ieee_address?: string } };
        if (e.type === 'device_interview' && e.data?.status === 'successful' && e.data.ieee_address) interviewed.add(e.data.ieee_address);
      } catch {
        // not JSON
      }
    } else if (/^zigbee2mqtt\/0x[0-9a-f]{16}$/.test(topic)) {
      messages++;
      reporting.add(topic.slice('zigbee2mqtt/'.length));
    }
  });
  await client.subscribeAsync('zigbee2mqtt/#');
  say(`Zigbee2MQTT from ${dir}: starting…`);
  let log = '';
  // cwd outside any git checkout: Zigbee2MQTT rebuilds itself when its cwd's git hash differs.
  const proc = spawn(process.execPath, [index], {
    cwd: dir,
    env: { ...process.env, ZIGBEE2MQTT_DATA: data },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout.on('data', (d) => (log = (log + d).slice(-20_000)));
  proc.stderr.on('data', (d) => (log = (log + d).slice(-20_000)));
  cleanup.push(async () => {
    if (proc.exitCode !== null) return;
    proc.kill('SIGTERM');
    await settledWithin(new Promise((r) => proc.once('exit', r)), 10_000);
    proc.kill('SIGKILL');
  });
  const handle = { proc, output: () => log };
  await waitFor(
    'Zigbee2MQTT online',
    async () => {
      assertAlive(handle, 'Zigbee2MQTT');
      return online;
    },
    120_000,
    200,
  );
  await sleep(5000);
  const idle = await sampleWindow(proc.pid!, 10_000);
  say(`Zigbee2MQTT: pairing ${n} devices…`);
  const t = performance.now();
  await client.publishAsync('zigbee2mqtt/bridge/request/permit_join', JSON.stringify({ time: 254 }));
  await waitFor(
    `Zigbee2MQTT: ${n} devices interviewed and reporting`,
    async () => {
      assertAlive(handle, 'Zigbee2MQTT');
      return interviewed.size >= n && devices.every((d) => reporting.has(d.ieee));
    },
    240_000,
    500,
  );
  const pairS = (performance.now() - t) / 1000;
  await client.publishAsync('zigbee2mqtt/bridge/request/permit_join', JSON.stringify({ time: 0 }));
  say(`Zigbee2MQTT: paired in ${pairS.toFixed(0)} s; warming up 10 s, then measuring for ${o.windowS} s…`);
  await sleep(10_000);
  const m0 = messages;
  const r0 = emu.stats().reports;
  const busy = await sampleWindow(proc.pid!, o.windowS * 1000);
  return { version, idle, busy, reports: emu.stats().reports - r0, messages: messages - m0, pairS };
}
