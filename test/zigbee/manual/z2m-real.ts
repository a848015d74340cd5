// A manual check, not part of `npm test`: the real Zigbee2MQTT 2.14.1 runs unmodified against our
// Z-Stack emulator and a Mosquitto, and our Z2mSource reads its topics. Zigbee2MQTT is GPL-3.0
// and pins another herdsman (10.9.2), so it is not a dependency of this repo; install it aside:
//
//   npm install --prefix /tmp/z2m zigbee2mqtt@2.14.1
//   node test/zigbee/manual/z2m-real.ts [/tmp/z2m]
//
// Exits 1 unless all 7 virtual devices came through Zigbee2MQTT as valid readings of the
// expected kinds. (Run with cwd outside a git checkout for Z2M: it rebuilds itself when the
// git hash of its cwd differs from its dist hash; the script sets cwd to the install folder.)
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { ZStackEmulator } from '../../../simulators/zstack/emulator.ts';
import { Z2mSource } from '../../../gateway/z2m-source.ts';
import type { SourceSink } from '../../../gateway/source.ts';
import { startMosquitto, tempDir } from '../../support/servers.ts';
const Z2M = process.argv[2] ?? '/tmp/z2m';
import { connectAsync } from 'mqtt';
import { silentLogger } from '../../../lib/log.ts';
import { sleep } from '../../../lib/timeout.ts';
import { checkReading } from '../../../devices/contract.ts';
const mosq = await startMosquitto();
const mqttUrl = `mqtt://127.0.0.1:${mosq.port}`;
const emu = new ZStackEmulator({ intervalMs: 1000 });
await emu.start();
const dir = tempDir('z2m-data-');
writeFileSync(
  `${dir}/configuration.yaml`,
  `homeassistant:\n  enabled: false\nfrontend:\n  enabled: false\nmqtt:\n  base_topic: zigbee2mqtt\n  server: ${mqttUrl}\n` +
    `serial:\n  port: ${emu.url}\n  adapter: zstack\nadvanced:\n  network_key: GENERATE\n  pan_id: GENERATE\n  ext_pan_id: GENERATE\n` +
    `  log_level: warning\navailability:\n  enabled: true\nversion: 4\n`,
);
const z2m = spawn(process.execPath, [`${Z2M}/node_modules/zigbee2mqtt/index.js`], {
  cwd: Z2M,
  env: { ...process.env, ZIGBEE2MQTT_DATA: dir },
  stdio: ['ignore', 'pipe', 'pipe'],
});
let log = '';
z2m.stdout.on('data', (d) => (log += d));
z2m.stderr.on('data', (d) => (log += d));
const readings: Parameters<SourceSink['reading']>[0][] = [];
const events: { t: Parameters<SourceSink['event']>[0]; d: string | undefined; data: Record<string, unknown> | undefined }[] = [];
const src = new Z2mSource({ url: mqttUrl, baseTopic: 'zigbee2mqtt', devicesFile: () => ({ overrides: new Map() }), log: silentLogger });
await src.start({ reading: (r) => readings.push(r), event: (t, d, data) => events.push({ t, d, data }) });
const c = await connectAsync(mqttUrl);
for (let i = 0; i < 60 && src.state() !== 'up'; i++) await sleep(500);
console.log('bridge state', src.state());
await c.publishAsync('zigbee2mqtt/bridge/request/permit_join', JSON.stringify({ time: 120 }));
await sleep(45000);
const byDev = new Map<string, Parameters<SourceSink['reading']>[0][]>();
for (const r of readings) byDev.set(r.dev, [...(byDev.get(r.dev) ?? []), r]);
for (const [d, rs] of byDev)
  console.log(
    d,
    rs[0]!.kind,
    rs.length,
    JSON.stringify(rs.slice(-2).map((r) => [r.v, r.q])),
    rs.every((r) => checkReading({ ...r, seq: 1 }, Date.now()) === null),
  );
console.log(
  'events',
  JSON.stringify(
    events
      .map((e) => `${e.t}:${e.data?.status ?? ''}`)
      .reduce((a: Record<string, number>, k: string) => {
        a[k] = (a[k] ?? 0) + 1;
        return a;
      }, {}),
  ),
);
console.log('z2m log tail:', log.slice(-1500));
z2m.kill('SIGTERM');
await sleep(3000);
z2m.kill('SIGKILL');
await src.stop();
await c.endAsync();
await emu.stop();
await mosq.stop();
const expected: Record<string, string> = {
  '0x00158d0001a10001': 'incontinence',
  '0xa4c1380000f10002': 'fall',
  '0xa4c1380000b10003': 'bed',
  '0x00158d0001d10004': 'door',
  '0x00124b0002e10005': 'motion',
  '0xa4c1380000510006': 'button',
  '0x00124b0002c10007': 'climate',
};
const failures = Object.entries(expected).filter(
  ([dev, kind]) =>
    !(byDev.get(dev)?.length && byDev.get(dev)!.every((r) => r.kind === kind && checkReading({ ...r, seq: 1 }, Date.now()) === null)),
);
console.log(
  failures.length
    ? `FAILED for ${failures.map(([d, k]) => `${d} (${k})`).join(', ')}`
    : 'OK: all 7 devices came through the real Zigbee2MQTT as valid readings',
);
process.exit(failures.length ? 1 : 0);
