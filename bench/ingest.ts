// bench/ingest: readings per second from publisher to acked-in-InfluxDB, beside InfluxDB's own
// ceiling measured in the same run, and with Mosquitto as a peer broker.
//
//   node bench/ingest.ts [--readings 200000] [--gateways 10]
//
// 1. ceiling: the same readings as line protocol POSTed straight to influxd (5,000 lines a
//    request, 2 and 4 in flight; the better is the ceiling).
// 2. testbed up: real gateway uplinks (one per virtual gateway, in this process) → aedes →
//    ingest → influxd, timed until every batch is acked. Peak RSS of the `testbed up` process.
// 3. peer: the same uplinks → Mosquitto → `testbed ingest` → influxd.
// All servers run on loopback on free ports and are stopped at the end.

import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { startInfluxd, startMosquitto, tempDir, influxQuery, waitFor } from '../test/support/servers.ts';
import { runTestbed, type CliProcess } from '../test/support/centre.ts';
import { toLine } from '../ingest/index.ts';
import { MemoryOutbox, Uplink } from '../gateway/index.ts';
import { openRegistry } from '../registry/index.ts';
import { silentLogger } from '../lib/log.ts';
import type { Reading } from '../devices/index.ts';

const { values: args } = parseArgs({
  options: { readings: { type: 'string', default: '200000' }, gateways: { type: 'string', default: '10' } },
});
const N = Number(args.readings);
const G = Number(args.gateways);
const DEVICES_PER_GW = 10;
const start0 = Date.now() - 3_600_000;

/** A realistic mix: climate, motion and hydration readings with quality fields. */
function reading(gw: number, i: number): Omit<Reading, 'seq'> {
  const dev = `g${gw}-dev${i % DEVICES_PER_GW}`;
  const ts = start0 + i * 10;
  switch (i % 3) {
    case 0:
      return { dev, kind: 'climate', ts, v: { temperature_c: 21.5, humidity_pct: 40 }, q: { battery: 90, lqi: 120 } };
    case 1:
      return { dev, kind: 'motion', ts, v: { motion: i % 2 === 0 }, q: { battery: 80, lqi: 100 } };
    default:
      return { dev, kind: 'hydration', ts, v: { intake_ml: 120 }, q: { battery: 70, lqi: 90 } };
  }
}

function progress(label: string) {
  return (done: number, total: number) => process.stderr.write(`\r  ${label}: ${done.toLocaleString()} / ${total.toLocaleString()}   `);
}

async function ceiling(influxUrl: string, inFlight: number): Promise<number> {
  const db = `ceiling${inFlight}`;
  await fetch(`${influxUrl}/query?q=${encodeURIComponent(`CREATE DATABASE ${db}`)}`, { method: 'POST' });
  const lines: string[] = [];
  for (let g = 0; g < G; g++) {
    const per = Math.floor(N / G);
    for (let i = 0; i < per; i++)
      lines.push(toLine({ ...reading(g, i), seq: Math.floor(i / DEVICES_PER_GW) } as Reading, { site: 'bench', gateway: `gw-${g}` }));
  }
  const bodies: string[] = [];
  for (let i = 0; i < lines.length; i += 5000) bodies.push(lines.slice(i, i + 5000).join('\n'));
  const t0 = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < bodies.length) {
      const body = bodies[next++]!;
      const res = await fetch(`${influxUrl}/write?db=${db}&precision=ns`, { method: 'POST', body });
      if (res.status !== 204) throw new Error(`ceiling write: ${res.status} ${await res.text()}`);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return lines.length / ((performance.now() - t0) / 1000);
}

/** Peak resident memory of a process so far, from /proc (VmHWM). */
function peakRssMb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function throughPath(
  label: string,
  mqttUrl: string,
  credentials: (site: string, gw: string) => { username?: string; password?: string },
  influxUrl: string,
  db: string,
): Promise<number> {
  const per = Math.floor(N / G);
  const uplinks: Uplink[] = [];
  for (let g = 0; g < G; g++) {
    const outbox = new MemoryOutbox();
    for (let i = 0; i < per; i++) outbox.accept(reading(g, i));
    const cred = credentials('bench', `gw-${g}`);
    uplinks.push(new Uplink({ url: mqttUrl, ...cred, site: 'bench', gateway: `gw-${g}`, outbox, log: silentLogger }));
  }
  const total = per * G;
  const show = progress(label);
  const t0 = performance.now();
  await Promise.all(uplinks.map((u) => u.start()));
  const ticker = setInterval(
    () =>
      show(total - uplinks.reduce((s, u) => s + (u as unknown as { opts: { outbox: MemoryOutbox } }).opts.outbox.stats().depth, 0), total),
    500,
  );
  await Promise.all(uplinks.map((u) => u.drained(600_000)));
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(ticker);
  show(total, total);
  process.stderr.write('\n');
  await Promise.all(uplinks.map((u) => u.stop()));
  // Acked means stored: check the count in InfluxDB before believing the rate.
  const rows = await waitFor(
    'stored count',
    async () => {
      let stored = 0;
      for (const kind of ['climate', 'motion', 'hydration']) {
        const r = await influxQuery(influxUrl, db, `SELECT count(seq) FROM ${kind}`);
        stored += Number(r[0]?.count ?? 0);
      }
      return stored >= total ? stored : undefined;
    },
    60_000,
    500,
  );
  if (rows !== total) throw new Error(`${label}: ${rows} stored, expected ${total}`);
  return total / seconds;
}

async function main() {
  process.stderr.write(
    `bench/ingest: ${N.toLocaleString()} readings from ${G} gateways (${DEVICES_PER_GW} devices each), node ${process.version}\n`,
  );
  const influx = await startInfluxd();
  const cleanup: (() => Promise<void>)[] = [() => influx.stop()];
  try {
    process.stderr.write('  ceiling: direct line-protocol writes…\n');
    const ceil2 = await ceiling(influx.url, 2);
    const ceil4 = await ceiling(influx.url, 4);
    const ceil = Math.max(ceil2, ceil4);

    // testbed up (aedes + ingest + HTTP in one process) → influxd
    const dataDir = tempDir('testbed-bench-');
    const up: CliProcess = await runTestbed(['up', '--no-sim'], {
      TESTBED_DATA_DIR: dataDir,
      TESTBED_INFLUX_URL: influx.url,
      TESTBED_INFLUX_DB: 'viaup',
      TESTBED_LOG_LEVEL: 'error',
    });
    cleanup.push(() => up.kill());
    // Provisioned in the registry `testbed up` reads, as `testbed gateway add` would.
    const registry = await openRegistry({ dataDir });
    const creds = new Map<string, { username: string; password: string }>();
    for (let g = 0; g < G; g++) {
      const { credentials } = await registry.createGateway(
        { id: 'system:bench', role: 'admin', orgId: null },
        { siteId: 'bench', gateway: `gw-${g}` },
        { createSite: true },
      );
      creds.set(`gw-${g}`, credentials);
    }
    await registry.db.close();
    const viaUp = await throughPath('testbed up', `mqtt://127.0.0.1:${up.mqttPort}`, (_s, gw) => creds.get(gw)!, influx.url, 'viaup');
    const upRss = peakRssMb(up.proc.pid!);
    await up.kill();

    // Peer: Mosquitto as the broker, `testbed ingest` alone.
    const mosquitto = await startMosquitto();
    cleanup.push(() => mosquitto.stop());
    const ingest: CliProcess = await runTestbed(['ingest'], {
      TESTBED_DATA_DIR: tempDir('testbed-bench-ingest-'),
      TESTBED_MQTT_URL: `mqtt://127.0.0.1:${mosquitto.port}`,
      TESTBED_INGEST_PASSWORD: 'unused-by-anonymous-mosquitto',
      TESTBED_INFLUX_URL: influx.url,
      TESTBED_INFLUX_DB: 'viamosquitto',
      TESTBED_LOG_LEVEL: 'error',
    });
    cleanup.push(() => ingest.kill());
    const viaMosquitto = await throughPath(
      'Mosquitto + testbed ingest',
      `mqtt://127.0.0.1:${mosquitto.port}`,
      () => ({}),
      influx.url,
      'viamosquitto',
    );
    const ingestRss = peakRssMb(ingest.proc.pid!);

    const fmt = (n: number) => Math.round(n).toLocaleString('en').padStart(9);
    const rows = [
      ['path', 'readings/s', 'peak RSS', 'of ceiling'],
      [
        `InfluxDB ceiling: line protocol straight to influxd (2 in flight: ${Math.round(ceil2).toLocaleString('en')}, 4: ` +
          `${Math.round(ceil4).toLocaleString('en')})`,
        fmt(ceil),
        '',
        '100 %',
      ],
      [
        'gateway uplinks → testbed up (aedes + ingest) → influxd, acked',
        fmt(viaUp),
        `${upRss.toFixed(0)} MB`,
        `${Math.round((100 * viaUp) / ceil)} %`,
      ],
      [
        'gateway uplinks → Mosquitto → testbed ingest → influxd, acked',
        fmt(viaMosquitto),
        `${ingestRss.toFixed(0)} MB`,
        `${Math.round((100 * viaMosquitto) / ceil)} %`,
      ],
    ];
    const width = Math.max(...rows.map((r) => r[0]!.length));
    process.stdout.write(
      '\n' +
        rows.map((r) => `${r[0]!.padEnd(width)}  ${r[1]!.padStart(10)}  ${r[2]!.padStart(8)}  ${r[3]!.padStart(10)}`).join('\n') +
        '\n',
    );
    process.stdout.write(`\nratio testbed up / InfluxDB ceiling: ${(viaUp / ceil).toFixed(2)}\n`);
  } finally {
    for (const c of cleanup.reverse()) await c().catch(() => undefined);
  }
}

await main();
