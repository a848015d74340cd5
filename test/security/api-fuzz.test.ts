// Issue 11, the API fuzzer (docs/security.md): `testbed up --no-sim` as a child process; every
// operation in its /openapi.json, every parameter (path, query, body field) and the body as a
// whole, each given a bounded set of hostile values, with an admin's, a coordinator's, a company's
// and a researcher's token. Holds when: no answer is a 5xx; every error is JSON
// {statusCode, code, error, message} without upstream text (SQLite, InfluxQL, stack frames); the
// readings in the store are the same afterwards; /health answers 200; and a fall sent afterwards
// still raises its alert.

import { DatabaseSync } from 'node:sqlite';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../support/broker.ts';
import { type CliProcess, runTestbed, testbed } from '../support/centre.ts';
import { tempDir, waitFor } from '../support/servers.ts';

/** Strings an attacker tries on every parameter; query and path values are sent URL-encoded. */
const HOSTILE_STRINGS = [
  '',
  "'",
  '"',
  '\\',
  'a\nb',
  '../../../etc/passwd',
  "x' OR '1'='1",
  "site-a' OR site <> '",
  '"; DROP MEASUREMENT readings; --',
  '1; DROP TABLE audit_log; --',
  "x\\' OR 1=1 --",
  '/.*/',
  '\u0000',
  'ünïcödé-名前-🙂\u202e',
  'a'.repeat(4000),
  '-1',
  '1e308',
  '-9007199254740993',
  '1.5',
  'NaN',
  'Infinity',
  'true',
  'null',
  '[]',
  '{"$gt":""}',
];
/** Body field values: the strings, and the wrong types. */
const HOSTILE_VALUES: unknown[] = [
  ...HOSTILE_STRINGS.filter((s) => s.length < 1000),
  'a'.repeat(200_000),
  -1,
  0,
  1.5,
  1e308,
  -(2 ** 53) - 2, // past the safe integers
  true,
  null,
  [],
  ['a', 1, null],
  {},
  { $gt: '' },
  Array.from({ length: 2000 }, (_, i) => i),
];
/** Whole bodies: malformed, wrong shapes, deep nesting. */
const HOSTILE_BODIES = [
  '{"a":',
  '[]',
  'null',
  '"x"',
  '1',
  `${'['.repeat(5000)}${']'.repeat(5000)}`,
  JSON.stringify({ a: 'x'.repeat(2_000_000) }),
];

/** Text that means an upstream error or an internal detail reached the caller. */
const LEAK =
  /SQLITE|sqlite3?\b|syntax error|influx|pg_|postgres|relation "|at \S+\.ts:\d+|node:internal|ECONNREFUSED|TypeError|ReferenceError/i;

const ROLES = ['admin', 'coordinator', 'company', 'researcher'] as const;
type Role = (typeof ROLES)[number];

interface Operation {
  method: string;
  path: string;
  params: { name: string; in: 'path' | 'query' }[];
  bodyFields: string[] | null;
  stream: boolean;
}

let up: CliProcess;
let dataDir: string;
const tokens = {} as Record<Role, string>;
let gateway: { username: string; password: string };
const problems: string[] = [];
let requests = 0;

const readingsCount = () => {
  const db = new DatabaseSync(join(dataDir, 'readings.sqlite'), { readOnly: true });
  try {
    return Number((db.prepare('SELECT count(*) AS n FROM readings').get() as { n: number }).n);
  } finally {
    db.close();
  }
};

async function api(token: string | null, method: string, path: string, body?: unknown) {
  const res = await fetch(`${up.httpUrl}${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${path} → ${res.status}: ${text}`);
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

async function publish(readings: unknown[], batch: number) {
  const c = await connect(`mqtt://127.0.0.1:${up.mqttPort}`, gateway.username, gateway.password, { clientId: `${gateway.username}-fuzz` });
  try {
    await c.publishAsync('lab/v1/site-f/gw-f/up', JSON.stringify({ gw: 'gw-f', batch, sent: Date.now(), readings }), { qos: 1 });
  } finally {
    await c.endAsync();
  }
}

/** The operations of the document, with their parameters and the fields of their JSON body. */
function operations(doc: { paths: Record<string, Record<string, Record<string, unknown>>> }): Operation[] {
  const out: Operation[] = [];
  for (const [path, item] of Object.entries(doc.paths))
    for (const [method, op] of Object.entries(item)) {
      if (!['get', 'post', 'put', 'patch', 'delete'].includes(method)) continue;
      const params = ((op.parameters ?? []) as { name: string; in: string }[])
        .filter((p) => p.in === 'path' || p.in === 'query')
        .map((p) => ({ name: p.name, in: p.in as 'path' | 'query' }));
      const schema = (op.requestBody as { content?: Record<string, { schema?: { properties?: object } }> } | undefined)?.content?.[
        'application/json'
      ]?.schema;
      const responses = JSON.stringify(op.responses ?? {});
      out.push({
        method: method.toUpperCase(),
        path,
        params,
        bodyFields: schema ? Object.keys(schema.properties ?? {}) : null,
        stream: responses.includes('text/event-stream'),
      });
    }
  return out;
}

/** One request; records what breaks the contract. */
async function probe(role: Role, op: Operation, pathValues: Record<string, string>, query: string, body: string | undefined, what: string) {
  const url = `${op.path.replace(/\{(\w+)\}/g, (_, n: string) => encodeURIComponent(pathValues[n] ?? 'fuzz-missing'))}${query}`;
  const abort = new AbortController();
  // A stream that opens never ends: its status and headers are what is judged.
  const timer = setTimeout(() => abort.abort(), op.stream ? 1000 : 15_000);
  requests++;
  try {
    const res = await fetch(`${up.httpUrl}${url}`, {
      method: op.method,
      headers: { authorization: `Bearer ${tokens[role]}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body } : {}),
      signal: abort.signal,
    });
    if (op.stream && res.status === 200) {
      await res.body?.cancel();
      return;
    }
    const text = await res.text();
    const where = `${role} ${op.method} ${op.path} ${what} → ${res.status}`;
    if (res.status >= 500) problems.push(`${where}: ${text.slice(0, 300)}`);
    if (res.status < 400) return;
    let parsed: Record<string, unknown> | null = null;
    try {
      parsed = JSON.parse(text) as Record<string, unknown>;
    } catch {
      problems.push(`${where}: not JSON: ${text.slice(0, 200)}`);
      return;
    }
    const shape = ['statusCode', 'code', 'error', 'message'].every((k) => k in parsed!) && parsed.statusCode === res.status;
    if (!shape) problems.push(`${where}: error body ${text.slice(0, 200)}`);
    if (LEAK.test(String(parsed.message))) problems.push(`${where}: leaks ${String(parsed.message).slice(0, 300)}`);
  } catch (err) {
    if (!(op.stream && abort.signal.aborted)) problems.push(`${role} ${op.method} ${op.path} ${what}: ${String(err)}`);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs the thunks with at most `n` in flight. */
async function pool(tasks: (() => Promise<void>)[], n: number) {
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < tasks.length) await tasks[next++]!();
    }),
  );
}

beforeAll(async () => {
  dataDir = tempDir('testbed-fuzz-');
  const env = { TESTBED_DATA_DIR: dataDir };
  up = await runTestbed(['up', '--no-sim'], env);
  tokens.admin = (JSON.parse(await testbed(['token', 'create', '--role', 'admin'], env)) as { token: string }).token;
  const admin = (method: string, path: string, body?: unknown) => api(tokens.admin, method, `/api/v1${path}`, body);
  const start = Date.now() - 10 * 86_400_000;
  await admin('POST', '/organisations', { id: 'muni-f', name: 'Municipality F', type: 'municipality' });
  await admin('POST', '/organisations', { id: 'vendor-f', name: 'Vendor F', type: 'company' });
  await admin('POST', '/sites', { id: 'site-f', orgId: 'muni-f', name: 'Site F' });
  await admin('POST', '/trials', {
    id: 'trial-f',
    orgId: 'muni-f',
    name: 'Trial F',
    phase: 'pilot',
    protocolVersion: '1',
    startAt: start,
    siteIds: ['site-f'],
  });
  await admin('POST', '/homes', { id: 'home-f', siteId: 'site-f' });
  await admin('POST', '/participants', {
    trialId: 'trial-f',
    homeId: 'home-f',
    enrolledAt: start,
    consentStatus: 'consented',
    legalBasis: 'consent',
  });
  for (const [id, kind] of [
    ['cup-f', 'hydration'],
    ['fall-f', 'fall'],
  ])
    await admin('POST', '/devices', { id, kind, vendor: 'v', model: 'm', orgId: 'vendor-f' });
  for (const id of ['cup-f', 'fall-f']) await admin('POST', '/assignments', { deviceId: id, homeId: 'home-f', from: start });
  const gw = (await admin('POST', '/gateways', { siteId: 'site-f', gateway: 'gw-f', orgId: 'vendor-f', homeId: 'home-f' })) as {
    credentials: { username: string; password: string };
  };
  gateway = gw.credentials;
  for (const [role, org] of [
    ['coordinator', 'muni-f'],
    ['company', 'vendor-f'],
    ['researcher', null],
  ] as const) {
    const user = await admin('POST', '/users', { name: `fuzz ${role}`, role, orgId: org });
    tokens[role] = String((await admin('POST', `/users/${String(user.id)}/tokens`, {})).token);
  }
  const now = Date.now();
  await publish(
    [1, 2, 3].map((seq) => ({ dev: 'cup-f', kind: 'hydration', seq, ts: now - seq * 60_000, v: { intake_ml: 50 }, q: { battery: 90 } })),
    1,
  );
  await waitFor('the readings stored', async () => readingsCount() >= 3, 20_000);
}, 120_000);

afterAll(async () => {
  await up?.kill();
});

describe('API fuzzer: every operation and parameter of /openapi.json, with every role', () => {
  it('answers every hostile request without a 5xx or leaked upstream text, and leaves the store, /health and alerting intact', async () => {
    const doc = (await (await fetch(`${up.httpUrl}/openapi.json`)).json()) as Parameters<typeof operations>[0];
    const ops = operations(doc);
    expect(ops.length).toBeGreaterThan(40);
    const before = readingsCount();

    const tasks: (() => Promise<void>)[] = [];
    for (const op of ops)
      for (const role of ROLES) {
        for (const p of op.params)
          for (const [i, v] of HOSTILE_STRINGS.entries()) {
            const query = p.in === 'query' ? `?${encodeURIComponent(p.name)}=${encodeURIComponent(v)}` : '';
            const path = p.in === 'path' ? { [p.name]: v } : {};
            const body = op.bodyFields ? '{}' : undefined;
            tasks.push(() => probe(role, op, path, query, body, `${p.in} ${p.name}=#${i}`));
          }
        for (const f of op.bodyFields ?? [])
          for (const [i, v] of HOSTILE_VALUES.entries())
            tasks.push(() => probe(role, op, {}, '', JSON.stringify({ [f]: v }), `body ${f}=#${i}`));
        if (op.bodyFields) for (const [i, b] of HOSTILE_BODIES.entries()) tasks.push(() => probe(role, op, {}, '', b, `whole body #${i}`));
      }
    await pool(tasks, 8);
    expect(requests).toBe(tasks.length);
    expect(problems.slice(0, 40)).toEqual([]);

    // The store lost nothing, the centre is healthy, and alerting still fires.
    expect(readingsCount()).toBe(before);
    const health = await fetch(`${up.httpUrl}/health`);
    expect(health.status).toBe(200);
    expect(((await health.json()) as { status: string }).status).toBe('ok');
    await publish([{ dev: 'fall-f', kind: 'fall', seq: 1, ts: Date.now(), v: { fall: true } }], 2);
    const alerts = await waitFor(
      'the fall alert after the fuzzing',
      async () => {
        const list = (await api(tokens.coordinator, 'GET', '/api/v1/alerts?rule=fall')) as unknown as { device: string }[];
        return list.some((a) => a.device === 'fall-f') ? list : undefined;
      },
      20_000,
    );
    expect(alerts.length).toBeGreaterThan(0);
    // Monitoring sees the fall as it arrives; the store's write may follow a moment later.
    await waitFor('the fall reading stored', async () => readingsCount() === before + 1, 20_000);
  }, 600_000);
});
