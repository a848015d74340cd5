// A bounded fuzzer for what a gateway may publish (docs/security.md, class 2): hostile payloads on
// every gateway topic (up, state, health, events, cmd/{name}/reply), sent with a real gateway
// credential to a real `testbed up --no-sim` (child process), on the embedded store and on influxd.
// Deep nesting, 10^5-element arrays within the packet cap, wrong types, NaN/Infinity-like values,
// -0, huge numbers, unicode, binary and empty payloads, whole or in one field of a valid message.
// Valid readings are sent alongside. Afterwards: the process is alive, /health answers 200, the
// store holds exactly the valid readings, every GET monitoring route answers below 500, and a
// fall and a flat battery sent afterwards still raise their alerts.
//
// Deterministic for a seed (TESTBED_FUZZ_SEED, default below), printed in every failure message.

import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInfluxd, waitFor, type ServerHandle } from '../support/servers.ts';
import { alertFor, startHostile, upBatch, type Hostile } from '../support/hostile.ts';

const SEED = Number(process.env.TESTBED_FUZZ_SEED ?? 20251122);
const PER_TOPIC = 50;
const SEND_BUDGET_MS = 60_000;
const SITE = 'fz';
const GW = 'gw-1';
const root = `lab/v1/${SITE}/${GW}`;

/** mulberry32: small, fast, and the same sequence for the same seed on every platform. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const nest = (n: number, open: string, inner: string, close: string) => open.repeat(n) + inner + close.repeat(n);

/** JSON text fragments (some not JSON at all, some not representable as JS values: 1e400, -0, lone surrogates). */
const FRAGMENTS: (() => string)[] = [
  () => '1e400',
  () => '-1e400',
  () => '-0',
  () => '1e308',
  () => '9007199254740993',
  () => '123456789012345678901234567890',
  () => '1e-400',
  () => '-1',
  () => '0.5',
  () => '"NaN"',
  () => '"Infinity"',
  () => '"-Infinity"',
  () => 'NaN',
  () => 'Infinity',
  () => 'null',
  () => 'true',
  () => '""',
  () => '"x"',
  () => '{}',
  () => '[]',
  () => '{"$ne":null}',
  () => '{"__proto__":{"polluted":1}}',
  () => '{"constructor":{"prototype":{"polluted":1}}}',
  () => '"\\ud800"',
  () => '"\\u202e\\u0000\\uffff"',
  () => '"😀👩‍👩‍👧‍👦 ñ ß 中文"',
  () => `"${'x'.repeat(200_000)}"`,
  () => nest(100, '[', '1', ']'),
  () => nest(1000, '{"a":', '1', '}'),
  () => nest(50_000, '[', '', ']'),
  () => `[${Array(100_000).fill('0').join(',')}]`,
  () => `[${Array(100_000).fill('{}').join(',')}]`,
  () => `{${Array.from({ length: 20_000 }, (_, i) => `"k${i}":${i}`).join(',')}}`,
];

/** Whole payloads: not an object, not JSON, binary, empty. */
const WHOLE: ((r: () => number) => Buffer | string)[] = [
  () => '',
  () => ' ',
  () => 'null',
  () => '[]',
  () => '"str"',
  () => '{',
  () => '{"a":1,}',
  (r) => Buffer.from(Array.from({ length: 1 + Math.floor(r() * 4096) }, () => Math.floor(r() * 256))),
  () => Buffer.from([0xff, 0xfe, 0x00, 0x7b, 0x7d]),
  () => nest(100_000, '[', '', ']'),
  () => `[${Array(100_000).fill('1').join(',')}]`,
];

type Template = (n: number) => Record<string, unknown>;

const TOPICS: { topic: (r: () => number) => string; template: Template }[] = [
  {
    topic: () => `${root}/up`,
    template: (n) => ({
      gw: GW,
      batch: 1_000_000 + n,
      sent: Date.now(),
      readings: [{ dev: 'fz-mut', kind: 'hydration', seq: n, ts: Date.now() - 1000, v: { intake_ml: 10 }, q: { battery: 50 } }],
    }),
  },
  { topic: () => `${root}/state`, template: () => ({ online: true, ts: Date.now(), version: '1.0.0' }) },
  {
    topic: () => `${root}/health`,
    template: () => ({
      ts: Date.now(),
      uptimeS: 10,
      outboxDepth: 0,
      outboxOldestAgeS: 0,
      outboxCapHit: false,
      adapter: 'none',
      devices: { 'fz-mut': { lastSeen: Date.now(), battery: 50, lqi: 100 } },
    }),
  },
  { topic: () => `${root}/events`, template: () => ({ ts: Date.now(), type: 'device_joined', dev: 'fz-mut', data: { model: 'x' } }) },
  {
    topic: (r) => `${root}/cmd/${['permit_join', 'reload_config', 'restart_adapter', 'x'][Math.floor(r() * 4)]}/reply`,
    template: () => ({ id: 'abc', ok: true, error: '', seconds: 60 }),
  },
];

/** Every path to a value in `o` (objects and arrays), e.g. ['readings', 0, 'v', 'intake_ml']. */
function paths(o: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (typeof o !== 'object' || o === null) return [prefix];
  const out: (string | number)[][] = prefix.length ? [prefix] : [];
  for (const [k, v] of Object.entries(o)) out.push(...paths(v, [...prefix, Array.isArray(o) ? Number(k) : k]));
  return out;
}

const HOLE = '\u0000HOLE\u0000';

/** A hostile payload for one topic: a whole hostile payload, or a valid one with one field replaced or added. */
function hostilePayload(r: () => number, template: Template, n: number): Buffer | string {
  const mode = r();
  if (mode < 0.25) return WHOLE[Math.floor(r() * WHOLE.length)]!(r);
  const body = template(n);
  const all = paths(body);
  const path = all[Math.floor(r() * all.length)]!;
  let target: Record<string | number, unknown> = body;
  for (const k of path.slice(0, -1)) target = target[k] as Record<string | number, unknown>;
  if (mode < 0.85) target[path.at(-1)!] = HOLE;
  else target[`extra${n}`] = HOLE; // an unknown field
  const fragment = FRAGMENTS[Math.floor(r() * FRAGMENTS.length)]!();
  return JSON.stringify(body).replace(JSON.stringify(HOLE), fragment);
}

describe.each(['sqlite', 'influx'] as const)('MQTT fuzzer against testbed up (%s store)', (storeKind) => {
  let influx: ServerHandle | undefined;
  let h: Hostile;
  let gw: MqttClient;
  const acks = new Map<number, { stored: number; duplicates: number; rejected: number }>();
  const sent: string[] = [];
  const where = () => `seed ${SEED} (TESTBED_FUZZ_SEED), ${storeKind}; last payloads: ${sent.slice(-3).join(' | ')}`;

  beforeAll(async () => {
    const env: Record<string, string> = {};
    if (storeKind === 'influx') {
      influx = await startInfluxd();
      env.TESTBED_INFLUX_URL = influx.url;
      env.TESTBED_INFLUX_DB = `fuzz${SEED}`;
    }
    h = await startHostile(env);
    gw = await h.gateway(SITE, GW);
    gw.on('message', (_t, p) => {
      try {
        const a = JSON.parse(p.toString()) as { batch: number; stored: number; duplicates: number; rejected: number };
        acks.set(a.batch, a);
      } catch {
        // an ack the test cannot read fails the count check below
      }
    });
    await gw.subscribeAsync(`${root}/ack`, { qos: 1 });
  });
  afterAll(async () => {
    await h?.stop();
    await influx?.stop();
  });

  it('survives hostile payloads on every gateway topic with its data, its routes and its alerts intact', async () => {
    const r = rng(SEED + (storeKind === 'influx' ? 1 : 0));
    const started = Date.now();
    const validBatches = new Map<number, string>();
    let validReadings = 0;
    const sendValid = async () => {
      const batch = validBatches.size + 1;
      const readings = Array.from({ length: 5 }, (_, i) => ({
        dev: 'fz-valid',
        kind: 'hydration',
        seq: batch * 10 + i,
        ts: started - 60_000 + batch * 10 + i,
        v: { intake_ml: 100 + i },
        q: { battery: 80 },
      }));
      const payload = JSON.stringify({ gw: GW, batch, sent: Date.now(), readings });
      validBatches.set(batch, payload);
      validReadings += readings.length;
      await gw.publishAsync(`${root}/up`, payload, { qos: 1 });
    };
    await sendValid(); // first, so that no quota of distinct devices is used up by the fuzz before it

    let n = 0;
    for (let round = 0; round < PER_TOPIC && Date.now() - started < SEND_BUDGET_MS; round++) {
      for (const t of TOPICS) {
        const topic = t.topic(r);
        const payload = hostilePayload(r, t.template, n++);
        sent.push(`${topic.slice(root.length)} ${String(payload).slice(0, 60)}`);
        if (!gw.connected) throw new Error(`the broker closed the gateway's connection after a payload; ${where()}`);
        await gw.publishAsync(topic, payload, { qos: 1 });
      }
      if (round % 5 === 0) await sendValid();
      if (round % 10 === 0) expect(h.alive(), `the centre exited; ${where()}\n${h.centre.output().slice(-2000)}`).toBe(true);
    }
    expect(n, `sent fewer than half the payloads within ${SEND_BUDGET_MS} ms; ${where()}`).toBeGreaterThan((PER_TOPIC * TOPICS.length) / 2);

    // Alive, and healthy.
    expect(h.alive(), `the centre exited; ${where()}\n${h.centre.output().slice(-2000)}`).toBe(true);
    expect((await fetch(`${h.centre.httpUrl}/health`)).status, where()).toBe(200);

    // Every valid batch acked as stored (resent, as a gateway does, until acked: quotas may defer one).
    await waitFor(
      `acks of ${validBatches.size} valid batches; ${where()}`,
      async () => {
        const missing = [...validBatches.keys()].filter((b) => !acks.has(b));
        for (const b of missing) await gw.publishAsync(`${root}/up`, validBatches.get(b)!, { qos: 1 });
        return missing.length === 0;
      },
      30_000,
      1000,
    );
    for (const [b, a] of acks)
      if (validBatches.has(b)) expect({ batch: b, rejected: a.rejected }, where()).toEqual({ batch: b, rejected: 0 });
    // The store holds exactly the valid readings.
    const loss = await waitFor(`the valid readings in the store; ${where()}`, async () => {
      const res = await h.get(`/api/v1/monitor/loss?site=${SITE}&from=${started - 3_600_000}&to=${Date.now() + 3_600_000}`);
      const dev = (res.body as { devices?: { device: string; received: number }[] }).devices?.find((d) => d.device === 'fz-valid');
      return dev && dev.received >= validReadings ? dev : undefined;
    });
    expect(loss.received, where()).toBe(validReadings);

    // Every GET monitoring route answers, none with a 5xx.
    const from = started - 86_400_000;
    for (const path of [
      '/api/v1/monitor/devices',
      '/api/v1/monitor/gateways',
      `/api/v1/monitor/completeness?from=${from}`,
      `/api/v1/monitor/loss?from=${from}`,
      '/api/v1/monitor/compare',
      '/api/v1/monitor/thresholds',
      '/api/v1/monitor/maintenance',
      '/api/v1/alerts',
      '/api/v1/alerts/webhooks',
      '/api/v1/dead-letters?limit=1000',
    ]) {
      const res = await h.get(path);
      expect(res.status, `GET ${path}: ${JSON.stringify(res.body).slice(0, 300)}; ${where()}`).toBeLessThan(500);
    }

    // What was refused is kept with its class, on every channel (never dropped silently).
    const dl = (await h.get('/api/v1/dead-letters?limit=1')).body as { byReason: Record<string, number> };
    for (const code of ['invalid_json', 'invalid_state', 'invalid_health', 'invalid_event', 'invalid_reply'])
      expect(dl.byReason[code] ?? 0, `dead letters of class ${code}: ${JSON.stringify(dl.byReason)}; ${where()}`).toBeGreaterThan(0);

    // Alerting still fires: on arrival (a fall) and on the clock (a flat battery).
    const now = Date.now();
    await gw.publishAsync(
      `${root}/up`,
      upBatch(GW, 900_001, { dev: 'fz-fall', kind: 'fall', seq: 1, ts: now, v: { fall: true, state: 'fall' } }),
      {
        qos: 1,
      },
    );
    await gw.publishAsync(
      `${root}/up`,
      upBatch(GW, 900_002, { dev: 'fz-batt', kind: 'hydration', seq: 1, ts: now, v: { intake_ml: 5 }, q: { battery: 2 } }),
      { qos: 1 },
    );
    await alertFor(h, `the fall alert; ${where()}`, (a) => a.rule === 'fall' && a.device === 'fz-fall');
    await alertFor(h, `the battery-low alert; ${where()}`, (a) => a.rule === 'battery-low' && a.device === 'fz-batt');
    expect(h.alive(), where()).toBe(true);
  }, 180_000);
});
