// bench/gateway: speed and footprint of `testbed gateway run` (issue #3), beside Zigbee2MQTT
// measured in the same run on the same emulator with the same devices.
//
//   node bench/gateway.ts [--devices 50] [--interval-ms 1000] [--window 30]
//                         [--per-device-per-hour 60] [--outage-hours 1] [--z2m /tmp/z2m]
//
// Zigbee2MQTT is GPL-3.0 and never a dependency of this repo: install it aside
// (`npm install --prefix /tmp/z2m zigbee2mqtt@2.14.1`) and pass --z2m; without it, its rows say
// it was not measured.
//
// Every process runs on loopback: a real centre (`testbed up --no-sim`, embedded SQLite store),
// our Z-Stack emulator in this process with N virtual devices cycling through the 7 models, and
// the gateway as a child process (`testbed gateway run`, the command a Pi runs). RSS and CPU are
// read from /proc/<pid> of that child only.
//
// (a) RSS: without Zigbee (the CLI, and a minimal entry that imports only gateway/, to show what
//     the CLI itself costs); with the coordinator up and no device joined; with N devices joined
//     and reporting. "steady" is the median of samples every 0.5 s over the window, "peak" the
//     kernel's VmHWM since the process started (so it includes start-up and the interviews).
// (b) CPU per 1,000 readings: utime+stime from /proc/<pid>/stat over the window, while the N
//     devices report every period × --interval-ms (the emulator's fixed schedule: a known rate);
//     readings counted exactly from the outbox's per-device seq counters.
// (c) Backlog drain after an outage of --outage-hours: the centre is stopped (SIGTERM); the
//     gateway accumulates an hour's worth of readings at --per-device-per-hour for N devices.
//     Time is compressed: the emulator is driven fast until the outbox holds that many readings,
//     then slowed to the realistic rate. The centre is restarted on the same data and ports and
//     the drain is timed until the outbox is empty and the store holds every device's seqs
//     contiguous from 1 up to the last one the gateway gave.
// (d) Zigbee2MQTT 2.x (frontend and Home Assistant off, Mosquitto as its broker) on a fresh
//     emulator with the same N devices: RSS idle and with the devices reporting, CPU per 1,000
//     device reports (the emulator's count: the same input for both).

import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { ZStackEmulator } from '../simulators/zstack/emulator.ts';
import { fleet } from '../simulators/zstack/models.ts';
import { runTestbed, spawnNode, type CliProcess } from '../test/support/centre.ts';
import { tempDir, waitFor } from '../test/support/servers.ts';
import { startCentre, recorder, gatewayEnv, type Recorder, type TestCentre } from '../test/support/zigbee.ts';
import { assertAlive, sampleWindow, peakRssMb, rssMb, type RssWindow } from './support/proc.ts';
import { measureZ2m } from './support/zigbee2mqtt.ts';
import { sleep } from '../lib/timeout.ts';

const { values: args } = parseArgs({
  options: {
    devices: { type: 'string', default: '50' },
    'interval-ms': { type: 'string', default: '1000' },
    window: { type: 'string', default: '30' },
    'per-device-per-hour': { type: 'string', default: '60' },
    'outage-hours': { type: 'string', default: '1' },
    z2m: { type: 'string' },
  },
});
const N = Number(args.devices);
const INTERVAL_MS = Number(args['interval-ms']);
const WINDOW_S = Number(args.window);
const PER_DEVICE_PER_HOUR = Number(args['per-device-per-hour']);
const OUTAGE_H = Number(args['outage-hours']);
const Z2M = args.z2m;
const SITE = 'bench';
const GW = 'gw-bench';
const DEVICES = fleet(N);
const root = new URL('../', import.meta.url).pathname;

const say = (m: string) => process.stderr.write(`bench/gateway: ${m}\n`);
const mb = (n: number) => `${Math.round(n)} MB`;

/** Outbox depth and every device's last seq, read in one snapshot from the gateway's outbox.db. */
function outboxSnapshot(dir: string): { depth: number; lastSeqs: Map<string, number>; made: number } {
  const db = new DatabaseSync(join(dir, 'outbox.db'), { readOnly: true });
  try {
    db.exec('BEGIN');
    const depth = Number((db.prepare('SELECT COUNT(*) AS n FROM outbox_readings').get() as { n: number }).n);
    const rows = db.prepare('SELECT dev, last FROM outbox_seq').all() as { dev: string; last: number }[];
    db.exec('COMMIT');
    const lastSeqs = new Map(rows.map((r) => [r.dev, Number(r.last)]));
    return { depth, lastSeqs, made: [...lastSeqs.values()].reduce((a, b) => a + b, 0) };
  } catch {
    return { depth: NaN, lastSeqs: new Map(), made: NaN };
  } finally {
    db.close();
  }
}

/** Readings the centre received (ingest's arrival time, ms) at or after `since`: how many, first and last arrival. */
function receivedSince(c: TestCentre, since: number): { n: number; first: number; last: number } {
  const db = new DatabaseSync(join(c.dir, 'readings.sqlite'), { readOnly: true });
  try {
    const r = db
      .prepare(
        'SELECT COUNT(*) AS n, MIN(received_at) AS first, MAX(received_at) AS last FROM readings WHERE site = ? AND gateway = ? AND ' +
          'received_at >= ?',
      )
      .get(SITE, GW, since) as { n: number; first: number | null; last: number | null };
    return { n: Number(r.n), first: Number(r.first ?? NaN), last: Number(r.last ?? NaN) };
  } finally {
    db.close();
  }
}

/** Per device: distinct stored seqs ≤ last, and the smallest and largest of them. */
function storedSeqs(c: TestCentre): Map<string, { n: number; dups: number; min: number; max: number }> {
  const db = new DatabaseSync(join(c.dir, 'readings.sqlite'), { readOnly: true });
  try {
    const rows = db
      .prepare(
        'SELECT device, COUNT(*) AS n, COUNT(*) - COUNT(DISTINCT seq) AS dups, MIN(seq) AS lo, MAX(seq) AS hi FROM readings WHERE site = ' +
          '? AND gateway = ? GROUP BY device',
      )
      .all(SITE, GW) as { device: string; n: number; dups: number; lo: number; hi: number }[];
    return new Map(rows.map((r) => [r.device, { n: Number(r.n), dups: Number(r.dups), min: Number(r.lo), max: Number(r.hi) }]));
  } finally {
    db.close();
  }
}

async function startGatewayProcess(
  c: TestCentre,
  dir: string,
  zigbeePort: string,
  entry: 'cli' | 'minimal' = 'cli',
  extra: Record<string, string> = {},
): Promise<CliProcess> {
  // Health at its default interval (60 s), as on a Pi: the tests' 1 s would be a cost of its own.
  const env = gatewayEnv(c, dir, zigbeePort, {
    TESTBED_LOG_LEVEL: 'warn',
    TESTBED_ZIGBEE_PERMIT_JOIN_S: '0',
    TESTBED_GATEWAY_HEALTH_INTERVAL_S: '60',
    ...extra,
  });
  if (entry === 'cli') return runTestbed(['gateway', 'run'], env, { waitForHttp: false });
  // The minimal entry, started like runTestbed starts the CLI.
  return spawnNode(join(root, 'bench/support/gateway-entry.ts'), [], env);
}

/** The gateway is connected to the centre: its birth message (state online) newer than `since` arrived. */
async function waitOnline(rec: Recorder, gw: CliProcess, since: number): Promise<void> {
  await waitFor(
    'gateway online at the centre',
    async () => {
      assertAlive(gw, 'gateway');
      return rec.messages.some((m) => m.topic.endsWith('/state') && m.body.online === true && Number(m.body.ts) >= since);
    },
    60_000,
    100,
  );
}

interface Row {
  what: string;
  steady: string;
  peak: string;
  cpu: string;
  note: string;
}

async function measureNoZigbee(
  c: TestCentre,
  rec: Recorder,
  entry: 'cli' | 'minimal',
  extra: Record<string, string> = {},
): Promise<RssWindow> {
  const since = Date.now();
  const gw = await startGatewayProcess(c, tempDir('testbed-bench-gw0-'), '', entry, extra);
  try {
    await waitOnline(rec, gw, since);
    await sleep(3000);
    return await sampleWindow(gw.proc.pid!, 8000);
  } finally {
    await gw.kill();
  }
}

async function main(): Promise<void> {
  say(`${N} virtual devices (the 7 models in turn), base interval ${INTERVAL_MS} ms, window ${WINDOW_S} s, node ${process.version}`);
  const rows: Row[] = [];
  const notes: string[] = [];
  const cleanup: (() => Promise<unknown>)[] = [];
  try {
    const centre = await startCentre(SITE, GW);
    cleanup.push(() => centre.proc.kill('SIGKILL'));
    const rec = await recorder(centre);
    cleanup.push(() => rec.close());

    // ── (a) without Zigbee: the CLI, a minimal entry, and the CLI with Node's compile cache warm ──
    say('gateway without Zigbee: testbed gateway run, then the minimal entry…');
    const cli0 = await measureNoZigbee(centre, rec, 'cli');
    rows.push({
      what: 'testbed gateway run, no Zigbee (outbox + uplink)',
      steady: mb(cli0.median),
      peak: mb(cli0.peak),
      cpu: '',
      note: '',
    });
    const min0 = await measureNoZigbee(centre, rec, 'minimal');
    rows.push({
      what: '  same, minimal entry (imports gateway/ only)',
      steady: mb(min0.median),
      peak: mb(min0.peak),
      cpu: '',
      note: 'what the CLI itself adds',
    });
    const cache = tempDir('testbed-bench-compile-cache-');
    await measureNoZigbee(centre, rec, 'cli', { NODE_COMPILE_CACHE: cache }); // fills the cache
    const cached0 = await measureNoZigbee(centre, rec, 'cli', { NODE_COMPILE_CACHE: cache });
    rows.push({
      what: '  same, NODE_COMPILE_CACHE warm',
      steady: mb(cached0.median),
      peak: mb(cached0.peak),
      cpu: '',
      note: 'no TypeScript stripper loaded',
    });

    // ── (a) with the coordinator up, no device joined ──
    const emu = new ZStackEmulator({
      devices: DEVICES,
      intervalMs: INTERVAL_MS,
      joinSpacingMs: 100,
      statePath: join(tempDir('testbed-bench-emu-'), 'emu.json'),
    });
    await emu.start();
    cleanup.push(() => emu.stop());
    const gwDir = tempDir('testbed-bench-gw-');
    say('gateway with the coordinator up, nobody joined…');
    let since = Date.now();
    const gw = await startGatewayProcess(centre, gwDir, emu.url);
    cleanup.push(() => gw.kill('SIGKILL'));
    const pid = gw.proc.pid!;
    await waitOnline(rec, gw, since);
    await waitFor(
      'adapter_up',
      async () => {
        assertAlive(gw, 'gateway');
        return rec.events('adapter_up').some((e) => Number(e.ts) > since);
      },
      60_000,
      100,
    );
    await sleep(5000);
    const idle = await sampleWindow(pid, 10_000);
    rows.push({
      what: `testbed gateway run, coordinator up, 0 of ${N} devices joined`,
      steady: mb(idle.median),
      peak: mb(idle.peak),
      cpu: `${((100 * idle.cpuS) / idle.seconds).toFixed(1)} % idle`,
      note: '',
    });

    // ── (a)+(b) N devices join, then report at the emulator's fixed schedule ──
    say(`pairing ${N} devices…`);
    const tPair = performance.now();
    since = Date.now();
    await rec.client.publishAsync(`lab/v1/${SITE}/${GW}/cmd/permit_join`, JSON.stringify({ id: 'bench', seconds: 254 }), { qos: 1 });
    await waitFor(
      `${N} devices interviewed and reporting`,
      async () => {
        assertAlive(gw, 'gateway');
        const ok = new Set(
          rec
            .events('device_interview')
            .filter((e) => (e.data as Record<string, unknown> | undefined)?.status === 'successful')
            .map((e) => String(e.dev)),
        );
        const s = outboxSnapshot(gwDir);
        return ok.size >= N && DEVICES.every((d) => (s.lastSeqs.get(d.ieee) ?? 0) >= 1);
      },
      240_000,
      500,
    );
    const pairS = (performance.now() - tPair) / 1000;
    await rec.client.publishAsync(`lab/v1/${SITE}/${GW}/cmd/permit_join`, JSON.stringify({ id: 'bench-close', seconds: 0 }), { qos: 1 });
    say(`paired in ${pairS.toFixed(0)} s; warming up 10 s, then measuring for ${WINDOW_S} s…`);
    await sleep(10_000);
    const before = outboxSnapshot(gwDir);
    const reports0 = emu.stats().reports;
    const busy = await sampleWindow(pid, WINDOW_S * 1000);
    const after = outboxSnapshot(gwDir);
    const readings = after.made - before.made;
    const reports = emu.stats().reports - reports0;
    const perSec = readings / busy.seconds;
    const cpuPer1000 = (busy.cpuS / readings) * 1000;
    rows.push({
      what: `testbed gateway run, ${N} devices reporting`,
      steady: mb(busy.median),
      peak: mb(busy.peak),
      cpu: `${cpuPer1000.toFixed(2)} CPU-s / 1,000 readings`,
      note:
        `${perSec.toFixed(1)} readings/s (${(reports / busy.seconds).toFixed(1)} reports/s), ` +
        `${((100 * busy.cpuS) / busy.seconds).toFixed(1)} % of a core (${Math.round((100 * busy.sysS) / busy.cpuS)} % in the kernel); ` +
        `${((busy.cpuS / reports) * 1000).toFixed(2)} CPU-s / 1,000 reports`,
    });
    const ours = { idle, busy, cpuPerReport: busy.cpuS / reports };

    // ── (c) a centre outage of OUTAGE_H hours, compressed ──
    const backlogTarget = Math.round(N * PER_DEVICE_PER_HOUR * OUTAGE_H);
    const readingsPerInterval = readings / ((busy.seconds * 1000) / INTERVAL_MS);
    const realisticIntervalMs = Math.round((readingsPerInterval / ((N * PER_DEVICE_PER_HOUR) / 3600)) * 1000);
    say(
      `outage: stopping the centre; accumulating ${backlogTarget.toLocaleString('en')} readings (${OUTAGE_H} h × ${N} devices × ` +
        `${PER_DEVICE_PER_HOUR}/h)…`,
    );
    await centre.proc.kill('SIGTERM');
    const tOut = performance.now();
    const fastMs = Math.max(50, Math.round(INTERVAL_MS / 10));
    emu.setIntervalMs(fastMs);
    const base = outboxSnapshot(gwDir).depth;
    await waitFor(
      'the outage backlog',
      async () => {
        assertAlive(gw, 'gateway');
        return outboxSnapshot(gwDir).depth - base >= backlogTarget;
      },
      30 * 60_000,
      200,
    );
    emu.setIntervalMs(realisticIntervalMs);
    const accumulateS = (performance.now() - tOut) / 1000;
    const backlog = outboxSnapshot(gwDir).depth;
    const outageRss = rssMb(pid);
    const outagePeak = peakRssMb(pid);
    say(
      `backlog ${backlog.toLocaleString('en')} readings in ${accumulateS.toFixed(0)} s (emulator at ${fastMs} ms); devices now at the ` +
        `realistic rate (interval ${realisticIntervalMs} ms); restarting the centre…`,
    );
    const wallRestart = Date.now();
    await centre.restart();
    cleanup.push(() => centre.proc.kill('SIGKILL'));
    const wallUp = Date.now();
    // Outbox empty = every batch acked = stored (ingest acks only what it has stored).
    const snap = await waitFor(
      'the backlog drained and stored',
      async () => {
        assertAlive(gw, 'gateway');
        const s = outboxSnapshot(gwDir);
        return s.depth === 0 ? s : undefined;
      },
      10 * 60_000,
      20,
    );
    const wallDone = Date.now();
    const arrived = receivedSince(centre, wallRestart);
    // Acked means stored: check every device's seqs 1…last in the store, no gap, no duplicate.
    const stored = storedSeqs(centre);
    const bad = DEVICES.filter((d) => {
      const last = snap.lastSeqs.get(d.ieee) ?? 0;
      const s = stored.get(d.ieee);
      return !s || s.dups > 0 || s.min !== 1 || s.max < last || s.n !== s.max;
    });
    if (bad.length)
      throw new Error(`after the drain, ${bad.length} devices have gaps or duplicates in the store: ${bad.map((d) => d.ieee).join(', ')}`);
    // From the first batch at the centre to the outbox empty at the gateway (polled every 20 ms).
    const drainS = Math.max(0.001, (wallDone - arrived.first) / 1000);
    rows.push({
      what: `backlog drain after a ${OUTAGE_H} h outage (${backlog.toLocaleString('en')} readings)`,
      steady: mb(outageRss),
      peak: mb(outagePeak),
      cpu: `${Math.round(arrived.n / drainS).toLocaleString('en')} readings/s`,
      note:
        `${arrived.n.toLocaleString('en')} readings stored in ${(drainS * 1000).toFixed(0)} ms (first batch at the centre → outbox ` +
        `empty); centre up → drained ${((wallDone - wallUp) / 1000).toFixed(2)} s, of which reconnecting ` +
        `${((arrived.first - wallUp) / 1000).toFixed(2)} s (uplink retries every 2 s); all ${N} devices contiguous, no duplicate`,
    });
    notes.push(
      `(c) compressed: the centre was stopped for ${accumulateS.toFixed(0)} s, not ${OUTAGE_H} h; the emulator reported every period × ` +
        `${fastMs} ms until the outbox held ${N} devices × ${PER_DEVICE_PER_HOUR}/h × ${OUTAGE_H} h = ` +
        `${backlogTarget.toLocaleString('en')} readings, then at the realistic rate (base interval ${realisticIntervalMs} ms ≈ ` +
        `${PER_DEVICE_PER_HOUR} readings per device per hour) through the restart and drain. The readings carry the compressed ` +
        `timestamps; the drain does not depend on them.`,
    );
    await gw.kill();
    await emu.stop();
    await centre.proc.kill();

    // ── (d) Zigbee2MQTT on the same emulator with the same devices ──
    const z2mIndex = Z2M ? join(Z2M, 'node_modules/zigbee2mqtt/index.js') : '';
    if (!Z2M || !existsSync(z2mIndex)) {
      rows.push({
        what: 'Zigbee2MQTT',
        steady: '—',
        peak: '—',
        cpu: '—',
        note:
          `not measured: ${Z2M ? `${z2mIndex} not found` : 'no --z2m'}; install it aside (GPL-3.0): npm install --prefix /tmp/z2m ` +
          `zigbee2mqtt@2.14.1, then --z2m /tmp/z2m`,
      });
    } else {
      const z = await measureZ2m({ dir: Z2M, index: z2mIndex, devices: DEVICES, intervalMs: INTERVAL_MS, windowS: WINDOW_S, cleanup, say });
      rows.push({
        what: `Zigbee2MQTT ${z.version}, coordinator up, 0 of ${N} devices joined`,
        steady: mb(z.idle.median),
        peak: mb(z.idle.peak),
        cpu: `${((100 * z.idle.cpuS) / z.idle.seconds).toFixed(1)} % idle`,
        note: '',
      });
      rows.push({
        what: `Zigbee2MQTT ${z.version}, ${N} devices reporting`,
        steady: mb(z.busy.median),
        peak: mb(z.busy.peak),
        cpu: `${((z.busy.cpuS / z.reports) * 1000).toFixed(2)} CPU-s / 1,000 reports`,
        note:
          `${(z.reports / z.busy.seconds).toFixed(1)} reports/s → ${(z.messages / z.busy.seconds).toFixed(1)} MQTT messages/s, ` +
          `${((100 * z.busy.cpuS) / z.busy.seconds).toFixed(1)} % of a core ` +
          `(${Math.round((100 * z.busy.sysS) / Math.max(z.busy.cpuS, 1e-9))} % in the kernel); paired in ${z.pairS.toFixed(0)} s`,
      });
      notes.push(
        `(d) ratio gateway / Zigbee2MQTT with ${N} devices reporting: steady RSS ${(ours.busy.median / z.busy.median).toFixed(2)}, peak ` +
          `${(ours.busy.peak / z.busy.peak).toFixed(2)}, CPU per report ${(ours.cpuPerReport / (z.busy.cpuS / z.reports)).toFixed(2)}. ` +
          `Zigbee2MQTT publishes to a broker in the home and keeps no outbox; the gateway also writes every reading durably (SQLite, ` +
          `synchronous=FULL) and sends it to the centre.`,
      );
    }

    // ── the table ──
    const head: Row = { what: 'process / phase', steady: 'RSS steady', peak: 'RSS peak', cpu: 'CPU / rate', note: 'detail' };
    const all = [head, ...rows];
    const w = (k: keyof Row) => Math.max(...all.map((r) => r[k].length));
    process.stdout.write(
      '\n' +
        all
          .map(
            (r) =>
              `${r.what.padEnd(w('what'))}  ${r.steady.padStart(w('steady'))}  ${r.peak.padStart(w('peak'))}  ${r.cpu.padEnd(w('cpu'))}  ` +
              `${r.note}`,
          )
          .join('\n') +
        '\n\n',
    );
    notes.unshift(
      `(a) RSS from /proc/<pid>/status of the gateway process only: steady = median of samples every 0.5 s over the window (8 s without ` +
        `Zigbee, 10 s idle, ${WINDOW_S} s reporting), peak = VmHWM since start (start-up and interviews included). ${N} devices = ` +
        `fleet(${N}): the 7 models in turn, distinct IEEE addresses; paired in ${pairS.toFixed(0)} s.`,
      `(b) CPU from /proc/<pid>/stat utime+stime over the ${WINDOW_S} s window; devices report every period × ${INTERVAL_MS} ms (period ` +
        `1–4 by model), compressed from real life (about ${PER_DEVICE_PER_HOUR}/h a device): ${readings.toLocaleString('en')} readings ` +
        `from ${reports.toLocaleString('en')} reports. At ${PER_DEVICE_PER_HOUR} readings per device per hour ` +
        `(${((N * PER_DEVICE_PER_HOUR) / 3600).toFixed(2)}/s) that is about ` +
        `${((100 * idle.cpuS) / idle.seconds + (((N * PER_DEVICE_PER_HOUR) / 3600) * cpuPer1000) / 10).toFixed(2)} % of a core (idle + ` +
        `rate × cost).`,
    );
    process.stdout.write(`${notes.map((n) => `* ${n}`).join('\n')}\n`);
  } finally {
    for (const c of cleanup.reverse()) await c().catch(() => undefined);
  }
}

await main();
process.exit(0);
