// Alert latency and completeness speed.
//
// 1. Latency: the centre as `testbed up` wires it (aedes + ingest on the embedded store + HTTP +
//    monitor) in this process; a child process runs `runLoad` (virtual gateways at R readings/s)
//    as background load; meanwhile a probe gateway publishes a fall every 250 ms (a new device
//    each time, so each opens a new alert) and we time publish → alert event on SSE and on MQTT
//    lab/v1/{site}/alerts. Prints p50 / p99 / max and what the load achieved.
// 2. Completeness: 1,000 participants × 30 days (4 devices each, hourly readings: 2.9 M rows) in
//    the embedded store (its daily rollup) or InfluxDB (--influx) and a registry with the matching
//    trial; times participantDays() (what GET /api/v1/monitor/completeness runs) for the month.
//
//   node bench/alerts.ts [--rate 10000] [--homes 200] [--duration 20] [--participants 1000] [--days 30]
//                        [--skip-latency] [--skip-completeness] [--influx]

import { parseArgs } from 'node:util';
import { fork } from 'node:child_process';
import { rmSync } from 'node:fs';
import mqtt from 'mqtt';
import { tempDir, freePort, startInfluxd } from '../test/support/servers.ts';
import { sleep } from '../lib/timeout.ts';

const { values: args } = parseArgs({
  options: {
    rate: { type: 'string', default: '10000' },
    homes: { type: 'string', default: '200' },
    duration: { type: 'string', default: '20' },
    participants: { type: 'string', default: '1000' },
    days: { type: 'string', default: '30' },
    child: { type: 'string' },
    'skip-latency': { type: 'boolean', default: false },
    'skip-completeness': { type: 'boolean', default: false },
    influx: { type: 'boolean', default: false },
  },
});

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! : NaN;
};

async function loadChild(): Promise<void> {
  const { runLoad } = await import('../simulators/index.ts');
  process.once(
    'message',
    async (m: {
      url: string;
      homes: number;
      rate: number;
      duration: number;
      creds: Record<string, { username: string; password: string }>;
    }) => {
      const report = await runLoad({
        url: m.url,
        homes: m.homes,
        rate: m.rate,
        durationS: m.duration,
        credentials: async (site, gw) => m.creds[`${site}/${gw}`]!,
        drainTimeoutS: 30,
      });
      process.send!({
        sentPerS: report.sentPerS,
        ackedPerS: report.ackedPerS,
        sent: report.sent,
        acked: report.acked,
        lagMs: report.lagMs,
        drainS: report.drainS,
      });
      process.exit(0);
    },
  );
}

async function latency(): Promise<void> {
  const rate = Number(args.rate);
  const homes = Number(args.homes);
  const duration = Number(args.duration);
  const { loadConfig } = await import('../lib/config.ts');
  const { startCentre } = await import('../cli/centre.ts');
  const { cliActor } = await import('../registry/index.ts');
  const { loadGatewayIds } = await import('../simulators/load.ts');
  const dir = tempDir('testbed-bench-alerts-');
  const cfg = loadConfig({
    env: {
      TESTBED_DATA_DIR: dir,
      TESTBED_HTTP_PORT: String(await freePort()),
      TESTBED_MQTT_PORT: String(await freePort()),
      TESTBED_MQTT_WS_PORT: '0',
      TESTBED_MONITOR_PASSWORD: 'bench-monitor',
      TESTBED_LOG_LEVEL: 'error',
      TESTBED_MQTT_CONNECTS_PER_MINUTE: String(homes * 4),
    },
  });
  const centre = await startCentre(cfg, { roles: ['broker', 'ingest', 'http'] });
  const a = cliActor();
  const creds: Record<string, { username: string; password: string }> = {};
  for (const { site, gateway } of loadGatewayIds(homes))
    creds[`${site}/${gateway}`] = (await centre.registry.createGateway(a, { siteId: site, gateway }, { createSite: true })).credentials;
  const probeCreds = (await centre.registry.createGateway(a, { siteId: 'probe', gateway: 'gw-probe' }, { createSite: true })).credentials;
  const user = await centre.registry.createUser(a, { name: 'bench', role: 'admin' });
  const token = (await centre.registry.createToken(a, user.id)).token;
  const http = `http://127.0.0.1:${centre.httpPort}`;

  const sent = new Map<string, number>();
  const viaSse: number[] = [];
  const viaMqtt: number[] = [];
  const sub = await mqtt.connectAsync(centre.mqttUrl, { username: 'svc-monitor', password: 'bench-monitor' });
  sub.on('message', (_t, p) => {
    const e = JSON.parse(p.toString()) as { event: { type: string }; alert: { device: string } };
    const t0 = sent.get(e.alert.device);
    if (e.event.type === 'opened' && t0 !== undefined) viaMqtt.push(performance.now() - t0);
  });
  await sub.subscribeAsync('lab/v1/probe/alerts', { qos: 1 });
  const sse = await fetch(`${http}/api/v1/alerts/stream?site=probe`, { headers: { authorization: `Bearer ${token}` } });
  const reader = sse.body!.getReader();
  void (async () => {
    let buf = '';
    for (;;) {
      const r = await reader.read().catch(() => ({ done: true, value: undefined }));
      if (r.done) return;
      buf += Buffer.from(r.value!).toString('utf8');
      for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const data = block.split('\n').find((l) => l.startsWith('data:'));
        if (!data || !block.includes('event: opened')) continue;
        const e = JSON.parse(data.slice(5)) as { alert: { device: string } };
        const t0 = sent.get(e.alert.device);
        if (t0 !== undefined) viaSse.push(performance.now() - t0);
      }
    }
  })();

  const child = fork(new URL(import.meta.url).pathname, ['--child', 'load'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const loadDone = new Promise<Record<string, unknown>>((resolve) => child.once('message', (m) => resolve(m as Record<string, unknown>)));
  child.send({ url: centre.mqttUrl, homes, rate, duration, creds });
  const probe = await mqtt.connectAsync(centre.mqttUrl, { username: probeCreds.username, password: probeCreds.password });
  process.stderr.write(`latency: ${homes} load gateways at ${rate} readings/s for ${duration} s, a fall every 250 ms…\n`);
  // Let the load connect and ramp up before probing.
  await sleep(3000);
  let n = 0;
  const until = Date.now() + (duration - 4) * 1000;
  while (Date.now() < until) {
    const dev = `probe-${++n}`;
    const ts = Date.now();
    sent.set(dev, performance.now());
    probe.publish(
      'lab/v1/probe/gw-probe/up',
      JSON.stringify({
        gw: 'gw-probe',
        batch: n,
        sent: ts,
        readings: [{ dev, kind: 'fall', seq: 1, ts, v: { fall: true, state: 'fall' } }],
      }),
      { qos: 1 },
    );
    await sleep(250);
  }
  const load = await loadDone;
  await sleep(1000);
  const stats = centre.ingest!.stats();
  console.log(`\n== alert latency (publish of a fall → alert event), ${n} falls, background load ${homes} gateways at ${rate}/s target ==`);
  console.log(
    `load achieved: sent ${Math.round(Number(load.sentPerS))}/s, acked ${Math.round(Number(load.ackedPerS))}/s (sent ${load.sent}, acked ` +
      `${load.acked}), lag max ${(load.lagMs as { max: number }).max} ms; ingest stored ${stats.stored}`,
  );
  const row = (name: string, xs: number[]) =>
    console.log(
      `${name.padEnd(6)} n=${String(xs.length).padEnd(5)} p50 ${pct(xs, 50).toFixed(1)} ms   p99 ${pct(xs, 99).toFixed(1)} ms   max ` +
        `${Math.max(...xs).toFixed(1)} ms`,
    );
  row('SSE', viaSse);
  row('MQTT', viaMqtt);
  await reader.cancel().catch(() => undefined);
  await probe.endAsync();
  await sub.endAsync();
  await centre.close();
  rmSync(dir, { recursive: true, force: true });
}

async function completeness(): Promise<void> {
  const P = Number(args.participants);
  const D = Number(args.days);
  const { openRegistry, cliActor } = await import('../registry/index.ts');
  const { SqliteStore, InfluxStore, DeadLetterStore } = await import('../ingest/index.ts');
  const { startMonitor } = await import('../monitor/index.ts');
  const dir = tempDir('testbed-bench-completeness-');
  const influx = args.influx ? await startInfluxd() : null;
  const store = influx
    ? new InfluxStore({
        url: influx.url,
        db: 'bench',
        api: 'v1',
        createDb: true,
        spoolDir: dir,
        deadLetters: new DeadLetterStore(dir),
        batchSize: 20_000,
      })
    : new SqliteStore(dir);
  await store.init();
  const registry = await openRegistry({ dataDir: dir });
  const a = cliActor();
  const start = Date.UTC(2025, 0, 5, 23);
  const t0 = performance.now();
  await registry.createOrganisation(a, { id: 'muni', name: 'M', type: 'municipality' });
  await registry.createOrganisation(a, { id: 'vendor', name: 'V', type: 'company' });
  const sites = ['site-a', 'site-b', 'site-c', 'site-d'];
  for (const s of sites) await registry.createSite(a, { id: s, orgId: 'muni', name: s });
  await registry.createTrial(a, {
    id: 'bench',
    orgId: 'muni',
    name: 'B',
    phase: 'pilot',
    protocolVersion: '1',
    startAt: start,
    siteIds: sites,
  });
  const kinds = ['hydration', 'bed', 'motion', 'climate'] as const;
  const A = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
  for (let i = 0; i < P; i++) {
    const home = `h${i}`;
    await registry.createHome(a, { id: home, siteId: sites[i % sites.length]! });
    let n = i + 1;
    let s = '';
    for (let j = 0; j < 6; j++) {
      s = A[n % 32] + s;
      n = Math.floor(n / 32);
    }
    await registry.createParticipant(a, {
      id: `P-${s}`,
      trialId: 'bench',
      homeId: home,
      enrolledAt: start,
      consentStatus: 'consented',
      legalBasis: 'consent',
    });
    for (const k of kinds) {
      await registry.createDevice(a, { id: `${home}-${k}`, kind: k, vendor: 'v', model: 'm', orgId: 'vendor' });
      await registry.createAssignment(a, { deviceId: `${home}-${k}`, homeId: home, from: start });
    }
  }
  const t1 = performance.now();
  let rows = 0;
  let points: unknown[] = [];
  for (let i = 0; i < P; i++) {
    const home = `h${i}`;
    for (const k of kinds) {
      let seq = 0;
      for (let h = 0; h < D * 24; h++) {
        seq++;
        if ((i + h) % 17 === 0) continue; // a gap now and then: lost seqs, empty slots
        const v =
          k === 'hydration'
            ? { intake_ml: 60 }
            : k === 'bed'
              ? { occupied: h % 24 < 7 }
              : k === 'motion'
                ? { motion: true }
                : { temperature_c: 21 };
        points.push({
          site: sites[i % sites.length]!,
          gateway: `gw-${home}`,
          batch: 1,
          idx: 0,
          reading: { dev: `${home}-${k}`, kind: k, seq, ts: start + h * 3_600_000 + 60_000, v },
        });
      }
    }
    if (points.length >= 20_000 || i === P - 1) {
      await store.write(points as never);
      rows += points.length;
      points = [];
    }
  }
  if (store instanceof InfluxStore) await store.drained(600_000);
  const t2 = performance.now();
  const mon = await startMonitor({ dataDir: dir, store, registryDb: registry.db, tickMs: 0 });
  const q = { from: start, to: start + D * 86_400_000, utcOffsetMin: 60, now: start + D * 86_400_000 };
  const t3 = performance.now();
  const days = await mon.completeness.participantDays(q, null);
  const t4 = performance.now();
  const one = await mon.completeness.participantDays({ ...q, site: 'site-a' }, null);
  const t5 = performance.now();
  const exp = days.reduce((x, d) => x + d.expectedSlots, 0);
  const cov = days.reduce((x, d) => x + d.coveredSlots, 0);
  const lost = days.reduce((x, d) => x + d.lost, 0);
  console.log(
    `\n== completeness: ${P} participants × ${D} days, ${kinds.length} devices each, ${rows.toLocaleString('en')} readings in ` +
      `${store.name} ==`,
  );
  console.log(`set-up: registry ${((t1 - t0) / 1000).toFixed(1)} s, store ${((t2 - t1) / 1000).toFixed(1)} s`);
  console.log(
    `all participant-days (${days.length.toLocaleString('en')}): ${((t4 - t3) / 1000).toFixed(2)} s   completeness ` +
      `${(cov / exp).toFixed(4)}, lost ${lost.toLocaleString('en')}`,
  );
  console.log(`one site (${one.length.toLocaleString('en')} participant-days): ${((t5 - t4) / 1000).toFixed(2)} s`);
  await mon.close();
  await store.close();
  await registry.db.close();
  await influx?.stop();
  rmSync(dir, { recursive: true, force: true });
}

if (args.child === 'load') await loadChild();
else {
  if (!args['skip-latency']) await latency();
  if (!args['skip-completeness']) await completeness();
  process.exit(0);
}
