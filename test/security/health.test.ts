// Class 9, health tells the truth (docs/security.md): while the readings store (a real influxd,
// stopped) or the registry database (a throwaway PostgreSQL cluster, stopped) does not answer,
// /health says degraded with the reason, and the routes that need them answer 503 with a clear
// message (not a 500, not the database's text); when they are back, so is ok. The probes are
// cached: a burst of /health calls costs the databases at most one probe per ttl.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CachedProbe } from '../../http/health.ts';
import { type CliProcess, runTestbed, testbed } from '../support/centre.ts';
import { type PostgresHandle, type ServerHandle, startInfluxd, startPostgres, tempDir, waitFor } from '../support/servers.ts';

interface Health {
  status: 'ok' | 'degraded';
  reasons?: string[];
}

describe('health: cached, bounded probes', () => {
  it('a burst of checks runs one probe per ttl, and a hung probe answers within its timeout', async () => {
    let calls = 0;
    const p = new CachedProbe(
      async () => {
        calls++;
      },
      { ttlMs: 10_000 },
    );
    const results = await Promise.all(Array.from({ length: 200 }, () => p.check()));
    expect(results.every((r) => r.ok)).toBe(true);
    expect(calls).toBe(1);
    const hung = new CachedProbe(() => new Promise(() => undefined), { timeoutMs: 200 });
    const t0 = Date.now();
    const r = await hung.check();
    expect(r.ok).toBe(false);
    expect(Date.now() - t0).toBeLessThan(2000);
  });
});

describe('health: a real InfluxDB and a real PostgreSQL registry, stopped and started', () => {
  let influx: ServerHandle;
  let pg: PostgresHandle;
  let centre: CliProcess;
  let token: string;

  beforeAll(async () => {
    [influx, pg] = await Promise.all([startInfluxd(), startPostgres()]);
    const env = { TESTBED_DATA_DIR: tempDir('testbed-sec-health-'), TESTBED_INFLUX_URL: influx.url, TESTBED_DATABASE_URL: pg.adminUrl };
    centre = await runTestbed(['up', '--no-sim'], env);
    token = (JSON.parse(await testbed(['token', 'create', '--role', 'admin'], env)) as { token: string }).token;
  });
  afterAll(async () => {
    await centre?.kill();
    await Promise.all([influx?.stop(), pg?.stop()]);
  });

  const health = async () => (await (await fetch(`${centre.httpUrl}/health`)).json()) as Health;
  const get = async (path: string) => {
    const res = await fetch(`${centre.httpUrl}${path}`, { headers: { authorization: `Bearer ${token}` } });
    return { status: res.status, body: (await res.json()) as { code?: string; message?: string } };
  };

  it('ok while both answer', async () => {
    await waitFor('health ok', async () => (await health()).status === 'ok', 15_000);
    expect((await get('/api/v1/monitor/loss')).status).toBe(200);
  });

  it('InfluxDB stopped: degraded naming the readings store; reading routes answer 503; ok again once it is back', async () => {
    await influx.stop(true);
    try {
      const h = await waitFor('health degraded', async () => {
        const x = await health();
        return x.status === 'degraded' ? x : undefined;
      });
      expect(h.reasons?.join(' ')).toMatch(/readings store \(influx\) unreachable/);
      const r = await get('/api/v1/monitor/loss');
      expect([r.status, r.body.code]).toEqual([503, 'unavailable']);
      expect(r.body.message).toMatch(/readings store \(InfluxDB\) is unreachable/);
      expect(r.body.message).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|No host/);
    } finally {
      await influx.restart();
    }
    await waitFor('health ok again', async () => (await health()).status === 'ok', 20_000);
  });

  it('PostgreSQL stopped: degraded naming the registry; routes needing it answer 503; /health keeps answering fast', async () => {
    await pg.stop(true);
    try {
      const h = await waitFor('health degraded', async () => {
        const x = await health();
        return x.status === 'degraded' ? x : undefined;
      });
      expect(h.reasons?.join(' ')).toMatch(/registry database \(postgres\) unreachable/);
      const t0 = Date.now();
      for (let i = 0; i < 20; i++) expect((await health()).status).toBe('degraded');
      expect(Date.now() - t0).toBeLessThan(5000);
      const r = await get('/api/v1/organisations');
      expect([r.status, r.body.code]).toEqual([503, 'unavailable']);
      expect(r.body.message).toMatch(/registry database is unreachable/);
      expect(r.body.message).not.toMatch(/ECONNREFUSED|127\.0\.0\.1/);
    } finally {
      await pg.restart();
    }
    await waitFor('health ok again', async () => (await health()).status === 'ok', 20_000);
    expect((await get('/api/v1/organisations')).status).toBe(200);
  });
});
