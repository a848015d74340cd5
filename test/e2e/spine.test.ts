// The data spine as a new user meets it: `testbed up --no-sim` against a real InfluxDB,
// a credential from `testbed gateway add`, and Mosquitto's own CLI clients as the gateway.

import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn } from 'node:child_process';
import { sleep } from '../../lib/timeout.ts';
import { runCommand, type CommandResult } from '../support/processes.ts';
import { startInfluxd, tempDir, influxQuery, waitFor, type ServerHandle } from '../support/servers.ts';
import { runTestbed, testbed, type CliProcess } from '../support/centre.ts';
import { scrapedMetricSum } from '../support/metrics.ts';

let influx: ServerHandle;
let centre: CliProcess;
let env: Record<string, string>;
let cred: { username: string; password: string };
let other: { username: string; password: string };
let adminToken: string;

const now = Date.now();
const batch = (n: number, gw = 'home-1', count = 5) =>
  JSON.stringify({
    gw,
    batch: n,
    sent: now,
    readings: Array.from({ length: count }, (_, i) => ({
      dev: 'cup-1',
      kind: 'hydration',
      seq: n * 100 + i,
      ts: now - 60_000 + i,
      v: { intake_ml: 50 + i },
      q: { battery: 90, lqi: 140 },
    })),
  });

async function pub(c: { username: string; password: string }, topic: string, message: string): Promise<CommandResult> {
  const port = String(centre.mqttPort);
  return runCommand('mosquitto_pub', [
    '-h',
    '127.0.0.1',
    '-p',
    port,
    '-u',
    c.username,
    '-P',
    c.password,
    '-q',
    '1',
    '-t',
    topic,
    '-m',
    message,
  ]);
}

/** Subscribes with mosquitto_sub and resolves with the first `count` messages. */
function sub(c: { username: string; password: string }, topic: string, count: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const p = spawn('mosquitto_sub', [
      '-h',
      '127.0.0.1',
      '-p',
      String(centre.mqttPort),
      '-u',
      c.username,
      '-P',
      c.password,
      '-q',
      '1',
      '-t',
      topic,
      '-C',
      String(count),
      '-W',
      '20',
    ]);
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('exit', (code) => (code === 0 ? resolve(out.trim().split('\n')) : reject(new Error(`mosquitto_sub exited ${code}: ${out}`))));
  });
}

const countStored = async (gw = 'home-1') => {
  const rows = await influxQuery(influx.url, 'testbed', `SELECT count(seq) FROM hydration WHERE gateway = '${gw}'`);
  return Number(rows[0]?.count ?? 0);
};

beforeAll(async () => {
  influx = await startInfluxd();
  env = { TESTBED_DATA_DIR: tempDir('testbed-e2e-'), TESTBED_INFLUX_URL: influx.url };
  centre = await runTestbed(['up', '--no-sim'], env);
  cred = JSON.parse(await testbed(['gateway', 'add', '--site', 'halmstad', '--gateway', 'home-1'], env));
  other = JSON.parse(await testbed(['gateway', 'add', '--site', 'halmstad', '--gateway', 'home-2'], env));
  adminToken = (JSON.parse(await testbed(['token', 'create', '--role', 'admin'], env)) as { token: string }).token;
}, 90_000);

afterAll(async () => {
  await centre?.kill();
  await influx?.stop();
});

describe('testbed up with InfluxDB, driven by mosquitto_pub', () => {
  it('gateway add prints a credential a running broker accepts', () => {
    expect(cred).toEqual({ username: 'halmstad.home-1', password: expect.stringMatching(/^[A-Za-z0-9_-]{24,}$/) });
  });

  it('stores a valid batch once in InfluxDB and acks it', async () => {
    const acks = sub(cred, 'lab/v1/halmstad/home-1/ack', 1);
    await sleep(300);
    expect((await pub(cred, 'lab/v1/halmstad/home-1/up', batch(1))).code).toBe(0);
    const [ack] = await acks;
    expect(JSON.parse(ack!)).toEqual({ batch: 1, stored: 5, duplicates: 0, rejected: 0 });
    expect(await countStored()).toBe(5);
    const rows = await influxQuery(
      influx.url,
      'testbed',
      "SELECT intake_ml, seq, battery, site, device FROM hydration WHERE gateway = 'home-1' ORDER BY time",
    );
    expect(rows.map((r) => r.intake_ml)).toEqual([50, 51, 52, 53, 54]);
    expect(rows[0]).toMatchObject({ seq: 100, battery: 90, site: 'halmstad', device: 'cup-1' });
  });

  it('a resent batch changes nothing and is acked again as duplicates', async () => {
    const acks = sub(cred, 'lab/v1/halmstad/home-1/ack', 1);
    await sleep(300);
    await pub(cred, 'lab/v1/halmstad/home-1/up', batch(1));
    expect(JSON.parse((await acks)[0]!)).toEqual({ batch: 1, stored: 0, duplicates: 5, rejected: 0 });
    expect(await countStored()).toBe(5);
  });

  it('keeps garbage as dead letters, counts it, and keeps running', async () => {
    const before = await scrapedMetricSum(centre.httpUrl, 'testbed_ingest_dead_letters_total');
    await pub(cred, 'lab/v1/halmstad/home-1/up', '{this is not json');
    await pub(
      cred,
      'lab/v1/halmstad/home-1/up',
      JSON.stringify({
        gw: 'home-1',
        batch: 2,
        sent: now,
        readings: [{ dev: 'cup-1', kind: 'hydration', seq: 999, ts: now, v: { intake_ml: 'lots' } }],
      }),
    );
    await waitFor(
      'dead letters counted',
      async () => (await scrapedMetricSum(centre.httpUrl, 'testbed_ingest_dead_letters_total')) >= before + 2,
    );
    const url = `${centre.httpUrl}/api/v1/dead-letters?gateway=home-1`;
    // Raw payloads from every gateway: a token with an allowed role is required.
    expect((await fetch(url)).status).toBe(401);
    const researcher = (JSON.parse(await testbed(['token', 'create', '--role', 'researcher'], env)) as { token: string }).token;
    expect((await fetch(url, { headers: { authorization: `Bearer ${researcher}` } })).status).toBe(403);
    const dl = (await (await fetch(url, { headers: { authorization: `Bearer ${adminToken}` } })).json()) as {
      items: { reason: string; raw: string; class: string; encoding: string }[];
    };
    expect(dl.items.map((d) => d.reason)).toEqual(
      expect.arrayContaining([expect.stringMatching(/not JSON/), expect.stringMatching(/intake_ml: expected integer/)]),
    );
    expect(dl.items.find((d) => /not JSON/.test(d.reason))).toMatchObject({
      raw: '{this is not json',
      class: 'invalid_json',
      encoding: 'utf8',
    });
    // The same, from the command line on the running centre's data dir.
    const cli = JSON.parse(await testbed(['dead-letters', '--gateway', 'home-1'], env)) as { total: number; items: { reason: string }[] };
    expect(cli.total).toBeGreaterThanOrEqual(2);
    expect(cli.items.map((d) => d.reason)).toEqual(expect.arrayContaining([expect.stringMatching(/not JSON/)]));
    expect((await fetch(`${centre.httpUrl}/health`)).status).toBe(200);
    expect(await countStored()).toBe(5);
  });

  it("one gateway cannot write into another gateway's topics", async () => {
    const r = await pub(cred, 'lab/v1/halmstad/home-2/up', batch(3, 'home-2'));
    expect(r.code).not.toBe(0);
    await sleep(500);
    expect(await countStored('home-2')).toBe(0);
    // …while home-2 itself can.
    expect((await pub(other, 'lab/v1/halmstad/home-2/up', batch(3, 'home-2'))).code).toBe(0);
    await waitFor('home-2 stored', async () => (await countStored('home-2')) === 5);
  });

  it('refuses a wrong password', async () => {
    const r = await pub({ username: cred.username, password: 'wrong' }, 'lab/v1/halmstad/home-1/up', batch(4));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/not authori[sz]ed/i);
  });

  it('serves health, metrics and the OpenAPI document', async () => {
    // The roles block is an admin's or a coordinator's: anyone else gets status, uptime and version only.
    const auth = { headers: { authorization: `Bearer ${adminToken}` } };
    const health = (await (await fetch(`${centre.httpUrl}/health`, auth)).json()) as { status: string; roles: Record<string, unknown> };
    expect(health.status).toBe('ok');
    expect(Object.keys(health.roles)).toEqual(expect.arrayContaining(['broker', 'ingest']));
    expect(await scrapedMetricSum(centre.httpUrl, 'testbed_ingest_readings_total', { result: 'stored' })).toBe(10);
    const openapi = (await (await fetch(`${centre.httpUrl}/openapi.json`)).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(openapi.paths)).toEqual(expect.arrayContaining(['/health', '/metrics', '/api/v1/dead-letters']));
  });
});
