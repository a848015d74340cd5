// Class 1, queries (docs/security.md): nothing a request carries becomes query text. Each store's
// query functions refuse a value that does not match its own pattern (not only the routes), the
// API refuses it at the schema, InfluxQL reads run as a user InfluxDB grants READ only, and no
// upstream error text reaches the caller. Real influxd with auth-enabled, real `testbed up`.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Reading } from '../../devices/index.ts';
import { DeadLetterStore } from '../../ingest/dead-letters.ts';
import { InfluxStore } from '../../ingest/influx-store.ts';
import { SqliteStore } from '../../ingest/sqlite-store.ts';
import type { ReadingQuery, ReadingStore, StorePoint } from '../../ingest/types.ts';
import { ApiError } from '../../lib/errors.ts';
import { type CliProcess, runTestbed, testbed } from '../support/centre.ts';
import { type ServerHandle, startInfluxd, tempDir } from '../support/servers.ts';
import { apiFor, DATABASES, freshRegistry, tokenFor } from '../support/registry.ts';
import { write } from '../../registry/context.ts';
import type { Queryable } from '../../registry/db.ts';

/** What an attacker puts where an id is expected: quotes, statement ends, backslashes, newlines, regexes. */
const HOSTILE = [
  "x' OR 1=1 --",
  `"; DROP DATABASE "sec"; --`,
  "x' ; DROP TABLE readings; --",
  'x\\',
  "x\\' OR ''='",
  'x\nDROP DATABASE sec',
  '/.*/',
  'ÄÖ',
  '',
];

const T0 = Date.UTC(2025, 0, 6, 8);
const points = (n: number): StorePoint[] =>
  Array.from({ length: n }, (_, i) => ({
    site: 'sec-site',
    gateway: 'gw-1',
    batch: 1,
    idx: i,
    reading: { dev: 'dev-1', kind: 'climate', seq: i + 1, ts: T0 + i * 60_000, v: { temperature_c: 21, humidity_pct: 40 } } as Reading,
  }));

async function refused(p: Promise<unknown>): Promise<ApiError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApiError);
  return err as ApiError;
}

/** Every query function of the store, with the hostile value in each id position. */
async function expectEveryQueryRefuses(store: ReadingStore): Promise<void> {
  for (const bad of HOSTILE) {
    const qs: ReadingQuery[] = [{ site: bad }, { gateway: bad }, { device: bad }, { kind: bad as never }];
    for (const q of qs) {
      const e = await refused(store.queryReadings(q));
      expect([e.status, e.code]).toEqual([400, 'invalid_query']);
    }
    const e = await refused(store.deviceDays({ from: T0 - 86_400_000, to: T0 + 86_400_000, site: bad }));
    expect(e.status).toBe(400);
  }
  expect((await refused(store.queryReadings({ limit: -1 }))).status).toBe(400);
  expect((await refused(store.queryReadings({ from: Number.NaN }))).status).toBe(400);
  expect((await refused(store.lastSeen({ since: Number.POSITIVE_INFINITY }))).status).toBe(400);
}

describe('queries: the embedded store (SQLite)', () => {
  it('refuses every hostile id at its query functions, and its readings stay intact', async () => {
    const store = new SqliteStore(tempDir('testbed-sec-q-'));
    try {
      await store.write(points(20));
      await expectEveryQueryRefuses(store);
      expect(store.count()).toBe(20);
      expect(await store.queryReadings({ site: 'sec-site', device: 'dev-1', kind: 'climate' })).toHaveLength(20);
    } finally {
      await store.close();
    }
  });
});

describe('queries: InfluxDB with auth-enabled and a READ-only query user', () => {
  let influx: ServerHandle;
  let store: InfluxStore;
  const q = (sql: string, user: string, password: string) =>
    fetch(`${influx.url}/query?${new URLSearchParams({ q: sql, u: user, p: password, db: 'sec' })}`, { method: 'POST' }).then(
      async (r) => ({ status: r.status, body: await r.text() }),
    );

  beforeAll(async () => {
    influx = await startInfluxd({ auth: true });
    // With auth enabled and no user yet, InfluxDB 1.x accepts only the first admin's creation.
    const first = await fetch(
      `${influx.url}/query?${new URLSearchParams({ q: "CREATE USER admin WITH PASSWORD 'adm' WITH ALL PRIVILEGES" })}`,
      {
        method: 'POST',
      },
    );
    expect(first.status).toBe(200);
    for (const s of ['CREATE DATABASE sec', "CREATE USER reader WITH PASSWORD 'rd'", 'GRANT READ ON sec TO reader'])
      expect((await q(s, 'admin', 'adm')).status).toBe(200);
    const dir = tempDir('testbed-sec-influx-');
    store = new InfluxStore({
      url: influx.url,
      db: 'sec',
      api: 'v1',
      token: 'admin:adm',
      readUsername: 'reader',
      readPassword: 'rd',
      spoolDir: dir,
      deadLetters: new DeadLetterStore(dir),
    });
    await store.init();
    await store.write(points(20));
  });
  afterAll(async () => {
    await store?.close();
    await influx?.stop();
  });

  it('the read user cannot write or drop: InfluxDB refuses it (so no query text through it can)', async () => {
    const drop = await q('DROP DATABASE sec', 'reader', 'rd');
    expect(drop.body).toMatch(/not authorized/);
    const write = await fetch(`${influx.url}/write?${new URLSearchParams({ db: 'sec', u: 'reader', p: 'rd' })}`, {
      method: 'POST',
      body: 'climate,site=x,gateway=y,device=z seq=1i',
    });
    expect(write.status).toBe(403);
    expect(await store.queryReadings({ site: 'sec-site' })).toHaveLength(20);
  });

  it('reads go as the read user: without its grant they fail, with no InfluxDB text in the error', async () => {
    expect((await q('REVOKE READ ON sec FROM reader', 'admin', 'adm')).status).toBe(200);
    try {
      const err = await store.queryReadings({ site: 'sec-site' }).then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(err).toBeInstanceOf(Error);
      expect(err!.message).toBe('InfluxQL query failed');
      expect(err!.message).not.toMatch(/authoriz|reader/);
    } finally {
      expect((await q('GRANT READ ON sec TO reader', 'admin', 'adm')).status).toBe(200);
    }
  });

  it('refuses every hostile id at its query functions, and the database and its readings stay', async () => {
    await expectEveryQueryRefuses(store);
    const rows = await q('SELECT count(seq) FROM climate', 'admin', 'adm');
    expect(JSON.parse(rows.body).results[0].series[0].values[0][1]).toBe(20);
  });
});

describe('queries: the API refuses hostile ids at the schema; upstream text never reaches the caller', () => {
  let centre: CliProcess;
  let auth: Record<string, string>;
  beforeAll(async () => {
    const env = { TESTBED_DATA_DIR: tempDir('testbed-sec-api-') };
    centre = await runTestbed(['up', '--no-sim'], env);
    const t = JSON.parse(await testbed(['token', 'create', '--role', 'admin'], env)) as { token: string };
    auth = { authorization: `Bearer ${t.token}` };
  });
  afterAll(async () => {
    await centre?.kill();
  });

  const get = async (path: string) => {
    const res = await fetch(`${centre.httpUrl}${path}`, { headers: auth });
    return { status: res.status, body: (await res.json()) as { code?: string; message?: string } };
  };

  it.each([
    '/api/v1/monitor/completeness?site=',
    '/api/v1/monitor/loss?site=',
    '/api/v1/monitor/devices?site=',
    '/api/v1/alerts?site=',
    '/api/v1/dead-letters?site=',
    '/api/v1/dead-letters?gateway=',
    '/api/v1/monitor/compare?sites=',
    '/api/v1/monitor/completeness?trial=',
  ])('%s<hostile> answers 400 invalid_request', async (path) => {
    for (const bad of HOSTILE.filter(Boolean)) {
      const r = await get(`${path}${encodeURIComponent(bad)}`);
      expect([r.status, r.body.code], `${path}${bad}`).toEqual([400, 'invalid_request']);
    }
  });
});

describe.each(DATABASES)('queries: a constraint error on %s answers in our words, never the database’s text', (kind) => {
  it('a write the database refuses (unique, check, foreign key) is a 4xx without table, constraint or SQL text', async () => {
    const r = await freshRegistry(kind);
    try {
      // Straight through the registry's write rule (registry/context.ts), past its own checks, so
      // the database's constraints answer: what a race between two requests reaches.
      const ins = (id: string, type: string) => (q: Queryable) =>
        q.run('INSERT INTO organisations (id, name, type, created_at, updated_at) VALUES (?, ?, ?, ?, ?)', [id, 'x', type, 1, 1]);
      await write(r.registry, ins('sec-org', 'company'));
      // One at a time (each started only when awaited: a rejection nobody awaits yet is unhandled).
      const cases: [() => Promise<unknown>, number][] = [
        [() => write(r.registry, ins('sec-org', 'company')), 409],
        [() => write(r.registry, ins('sec-org-2', 'not-a-type')), 400],
        [
          () =>
            write(r.registry, (q) =>
              q.run('INSERT INTO sites (id, org_id, name, created_at, updated_at) VALUES (?, ?, ?, 1, 1)', ['s', 'nope', 's']),
            ),
          400,
        ],
      ];
      for (const [start, status] of cases) {
        const e = await refused(start());
        expect(e.status).toBe(status);
        expect(e.message).not.toMatch(
          /UNIQUE constraint|duplicate key|violates|_pkey|_fkey|organisations\.|CHECK constraint|FOREIGN KEY|sec-org/,
        );
      }
    } finally {
      await r.close();
    }
  });

  it('concurrent creates of one id through the API: one 201, the rest 409 in our words', async () => {
    const r = await freshRegistry(kind);
    try {
      const api = await apiFor(r.registry);
      const { token } = await tokenFor(r.registry, 'admin');
      const answers = await Promise.all(
        Array.from({ length: 12 }, () => api.call('POST', 'organisations', token, { id: 'sec-org', name: 'x', type: 'company' })),
      );
      expect(answers.filter((a) => a.status === 201)).toHaveLength(1);
      for (const a of answers.filter((x) => x.status !== 201)) {
        expect(a.status).toBe(409);
        expect(a.body.message).not.toMatch(/UNIQUE constraint|duplicate key|violates|_pkey|organisations\.id/);
      }
      await api.app.close();
    } finally {
      await r.close();
    }
  });
});
