// bench/sim: how fast the simulator generates readings, and how many homes at a realistic
// rate one machine's centre sustains.
//
//   node bench/sim.ts [--homes 500,1000,2000] [--duration 30]
//
// 1. NDJSON: the demo scenario (3 sites, 12 homes, every kind) for 30 simulated days, as fast
//    as possible, to a file — readings/s.
// 2. Homes into the centre: a centre like `testbed up` (aedes broker + ingest + embedded store,
//    one process) in a child process; a second child runs `runLoad` (one virtual gateway per
//    home: its own credential, MemoryOutbox and uplink) at the demo's own rate per home,
//    measured from step 1. For each home count: connect time, readings acked per second, ack lag,
//    the centre's peak RSS. A step "sustains" when everything sent is acked and the lag stays
//    under 2 s. Peer for scale: the same load against Mosquitto (no auth, no ingest).

import { parseArgs } from 'node:util';
import { fork } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { runScenario } from '../simulators/index.ts';
import { tempDir, startMosquitto } from '../test/support/servers.ts';

const { values: args } = parseArgs({
  options: { homes: { type: 'string', default: '500,1000,2000' }, duration: { type: 'string', default: '30' }, child: { type: 'string' } },
});

type Msg =
  | { type: 'ready'; port: number; pid: number }
  | { type: 'report'; report: Record<string, unknown> }
  | { type: 'error'; message: string };

function peakRssMb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** Child role 'centre': broker + ingest on the embedded store, gateways provisioned up front. */
async function centreChild(homes: number): Promise<void> {
  const { loadConfig } = await import('../lib/config.ts');
  const { CredentialStore } = await import('../broker/credentials.ts');
  const { startBroker } = await import('../broker/index.ts');
  const { startIngest } = await import('../ingest/index.ts');
  const dataDir = tempDir('testbed-bench-sim-');
  const config = loadConfig({
    env: {
      TESTBED_DATA_DIR: dataDir,
      TESTBED_MQTT_PORT: '0',
      TESTBED_MQTT_WS_PORT: '0',
      TESTBED_MQTT_CONNECTS_PER_MINUTE: String(homes * 4),
      TESTBED_LOG_LEVEL: 'error',
    },
  });
  const credentials = new CredentialStore(dataDir);
  const { loadGatewayIds } = await import('../simulators/load.ts');
  const creds: Record<string, { username: string; password: string }> = {};
  for (const { site, gateway } of loadGatewayIds(homes)) creds[`${site}/${gateway}`] = credentials.addGateway(site, gateway);
  const ingestPassword = 'bench-ingest-password';
  const broker = await startBroker({
    config,
    credentials,
    services: [{ username: 'svc-ingest', password: ingestPassword, role: 'ingest' }],
  });
  await startIngest({ config, mqtt: { url: `mqtt://127.0.0.1:${broker.ports.tcp}`, username: 'svc-ingest', password: ingestPassword } });
  process.send!({ type: 'ready', port: broker.ports.tcp, pid: process.pid, creds });
}

/** Child role 'load': runLoad against the centre with the provisioned credentials. */
async function loadChild(opts: {
  url: string;
  homes: number;
  rate: number;
  durationS: number;
  creds?: Record<string, { username: string; password: string }>;
}): Promise<void> {
  const { runLoad } = await import('../simulators/index.ts');
  const report = await runLoad({
    url: opts.url,
    homes: opts.homes,
    rate: opts.rate,
    durationS: opts.durationS,
    ...(opts.creds ? { credentials: async (site: string, gw: string) => opts.creds![`${site}/${gw}`]! } : {}),
    drainTimeoutS: 60,
  });
  const { seconds: _perSecond, ...summary } = report;
  process.send!({ type: 'report', report: summary });
}

function child<T extends Msg>(
  role: string,
  payload: unknown,
  until: T['type'],
): { proc: ReturnType<typeof fork>; result: Promise<T & Record<string, unknown>> } {
  const proc = fork(new URL(import.meta.url).pathname, ['--child', role], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const result = new Promise<T & Record<string, unknown>>((resolve, reject) => {
    proc.on('message', (m: Msg & Record<string, unknown>) =>
      m.type === 'error' ? reject(new Error(m.message)) : m.type === until ? resolve(m as T & Record<string, unknown>) : undefined,
    );
    proc.on('exit', (code) => reject(new Error(`${role} child exited with ${code}`)));
  });
  proc.send(payload as never);
  return { proc, result };
}

async function main(): Promise<void> {
  const durationS = Number(args.duration);
  // 1. NDJSON generation speed, and the demo's realistic rate per home.
  const dir = tempDir('testbed-bench-ndjson-');
  const t0 = performance.now();
  const run = await runScenario({
    scenario: 'demo',
    seed: 1,
    from: Date.UTC(2025, 0, 6),
    days: 30,
    speed: 'max',
    out: join(dir, 'month.ndjson'),
  });
  const seconds = (performance.now() - t0) / 1000;
  const readings = (run as unknown as { readings: number }).readings;
  rmSync(dir, { recursive: true, force: true });
  const perHomePerS = readings / 12 / (30 * 86400);
  process.stdout.write(
    `NDJSON: demo scenario, 30 days, 12 homes: ${readings.toLocaleString('en')} readings in ${seconds.toFixed(1)} s = ` +
      `${Math.round(readings / seconds).toLocaleString('en')} readings/s\n`,
  );
  process.stdout.write(
    `realistic rate per home (the demo's own): ${perHomePerS.toFixed(4)} readings/s (${Math.round(perHomePerS * 86400)} a day)\n\n`,
  );

  const rows: string[][] = [
    ['broker', 'homes', 'rate/s', 'connect s', 'acked/s', 'sent', 'acked', 'lag mean/max ms', 'centre peak RSS', 'sustained'],
  ];
  for (const homes of args.homes.split(',').map(Number)) {
    // A realistic rate is tiny per home; floor it at 1 reading/s overall so short runs see traffic.
    const rate = Math.max(1, Math.round(homes * perHomePerS * 10) / 10);
    process.stderr.write(`homes ${homes}: provisioning and starting the centre…\n`);
    const centre = child<{ type: 'ready'; port: number; pid: number }>('centre', { homes }, 'ready');
    const ready = await centre.result;
    const load = child<{ type: 'report'; report: Record<string, unknown> }>(
      'load',
      { url: `mqtt://127.0.0.1:${ready.port}`, homes, rate, durationS, creds: ready.creds },
      'report',
    );
    const { report } = await load.result;
    const rss = peakRssMb(ready.pid);
    load.proc.kill();
    centre.proc.kill();
    const lag = report.lagMs as { mean: number; max: number };
    const ok = report.acked === report.sent && lag.max < 2000;
    rows.push([
      'testbed (aedes+ingest)',
      String(homes),
      String(rate),
      String(Number(report.connectS).toFixed(1)),
      String(Math.round(Number(report.ackedPerS))),
      String(report.sent),
      String(report.acked),
      `${Math.round(lag.mean)}/${Math.round(lag.max)}`,
      `${rss.toFixed(0)} MB`,
      ok ? 'yes' : 'no',
    ]);
  }
  // Peer: the same load generator against Mosquitto (anonymous, nothing stored, no acks from
  // ingest: the load generator's own acker is absent, so only connect time and memory compare).
  const mosquitto = await startMosquitto();
  try {
    const homes = Number(args.homes.split(',').pop());
    process.stderr.write(`peer: ${homes} gateways connecting to Mosquitto…\n`);
    const t = performance.now();
    const { connectMany } = await import('./support/connect-many.ts');
    const connected = await connectMany(`mqtt://127.0.0.1:${mosquitto.port}`, homes);
    rows.push([
      'Mosquitto 2.0 (connect only)',
      String(homes),
      '-',
      ((performance.now() - t) / 1000).toFixed(1),
      '-',
      '-',
      '-',
      '-',
      `${peakRssMb(mosquitto.proc.pid!).toFixed(0)} MB`,
      connected === homes ? 'connected' : `${connected} connected`,
    ]);
  } finally {
    await mosquitto.stop();
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  process.stdout.write(
    `${rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')).join('\n')}\n`,
  );
}

if (args.child) {
  process.once('message', (payload: Record<string, unknown>) => {
    const work = args.child === 'centre' ? centreChild(payload.homes as number) : loadChild(payload as never);
    work.catch((err: unknown) => process.send!({ type: 'error', message: String((err as Error).stack ?? err) }));
  });
} else {
  await main();
  process.exit(0);
}
