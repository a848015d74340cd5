import { describe, it, expect } from 'vitest';
import { startInfluxd, startVictoriaMetrics, startMosquitto, influxQuery } from './servers.ts';

// The servers every integration test relies on start here on free ports and answer; if this
// file fails, the machine lacks a Debian package (.ci/run installs them) — nothing is skipped.
describe('real test servers', () => {
  it('influxd accepts a write and answers a query', async () => {
    const influx = await startInfluxd();
    try {
      await fetch(`${influx.url}/query?q=CREATE+DATABASE+t`, { method: 'POST' });
      const res = await fetch(`${influx.url}/write?db=t&precision=ms`, { method: 'POST', body: 'm,tag=a f=1i 1700000000000' });
      expect(res.status).toBe(204);
      const rows = await influxQuery(influx.url, 't', 'SELECT f FROM m');
      expect(rows).toEqual([{ time: 1700000000000, f: 1 }]);
    } finally {
      await influx.stop();
    }
  });
  it('victoria-metrics and mosquitto start on free ports', async () => {
    const [vm, mq] = await Promise.all([startVictoriaMetrics(), startMosquitto()]);
    try {
      expect(vm.port).not.toBe(mq.port);
      expect((await fetch(`${vm.url}/health`)).status).toBe(200);
    } finally {
      await Promise.all([vm.stop(), mq.stop()]);
    }
  });
});
