import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it, expect } from 'vitest';
import { startMosquitto, startVictoriaMetrics, waitFor } from '../support/servers.ts';
import { startIngest } from '../../ingest/index.ts';
import { ResendingPublisher, testConfig, T0 } from '../support/ingest.ts';

// VictoriaMetrics speaks InfluxDB line protocol on /api/v2/write: a real peer for the v2 path.
// It maps `climate,tags temperature_c=…` to the metric `climate_temperature_c` (ms precision).
describe('ingest → /api/v2/write (VictoriaMetrics)', () => {
  it('receives every point with its tags', async () => {
    const [vm, broker] = await Promise.all([startVictoriaMetrics(), startMosquitto()]);
    const url = `mqtt://127.0.0.1:${broker.port}`;
    // A recording pass-through in front of VictoriaMetrics.
    const seen = new Set<string>();
    const proxy = createServer((req, res) => {
      seen.add(`${req.method} ${req.url} ${req.headers.authorization}`);
      const up = request(`${vm.url}${req.url}`, { method: req.method, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      up.on('error', () => {
        res.writeHead(502);
        res.end();
      });
      req.pipe(up);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    const ingest = await startIngest({
      config: testConfig({
        influxUrl: proxyUrl,
        influxApi: 'v2',
        influxOrg: 'lab',
        influxDb: 'readings',
        influxToken: 'not-checked-by-vm',
      }),
      mqtt: { url },
    });
    const pub = await new ResendingPublisher({
      url,
      site: 'aalborg',
      gateway: 'gw-v',
      devices: 4,
      batches: 20,
      readingsPerBatch: 50,
      window: 10,
      resendAfterMs: 3000,
    }).start();
    try {
      await pub.done;
      expect([...pub.acks.values()].every((a) => a.stored + a.duplicates === 50 && a.rejected === 0)).toBe(true);
      const series = await waitFor(
        'all points searchable in VictoriaMetrics',
        async () => {
          await fetch(`${vm.url}/internal/force_flush`).catch(() => undefined);
          const res = await fetch(`${vm.url}/api/v1/export?${new URLSearchParams({ 'match[]': 'climate_seq' })}`);
          const lines = (await res.text())
            .trim()
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l) as { metric: Record<string, string>; values: number[]; timestamps: number[] });
          const n = lines.reduce((s, l) => s + l.values.length, 0);
          return n === 1000 ? lines : undefined;
        },
        30_000,
        300,
      );
      expect(series.map((s) => s.metric.device).sort()).toEqual(['dev-0', 'dev-1', 'dev-2', 'dev-3']);
      for (const s of series) {
        expect(s.metric).toMatchObject({ __name__: 'climate_seq', site: 'aalborg', gateway: 'gw-v' });
        expect(new Set(s.values).size).toBe(250); // seqs 1…250, each once
        expect(s.timestamps[0]).toBe(T0 + 1000);
      }
      const temp = await fetch(
        `${vm.url}/api/v1/export?${new URLSearchParams({ 'match[]': 'climate_temperature_c{device="dev-0"}' })}`,
      ).then((r) => r.text());
      expect(JSON.parse(temp.trim().split('\n')[0]!).values).toHaveLength(250);
      expect(ingest.stats().spoolDepth).toBe(0);
      // It really was the v2 endpoint, with the token (VM counts both paths as /influx/write, so look on the wire).
      expect(seen.size).toBeGreaterThan(0);
      for (const s of seen) expect(s).toBe('POST /api/v2/write?org=lab&bucket=readings&precision=ns Token not-checked-by-vm');
    } finally {
      await pub.stop();
      await ingest.close();
      proxy.close();
      await Promise.all([vm.stop(), broker.stop()]);
    }
  });
});
