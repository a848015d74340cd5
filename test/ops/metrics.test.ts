// `/metrics` as Prometheus reads it: `testbed up` with the demo pilot streaming (its virtual
// gateways run the real Uplink in the centre's process, so the gateway's metrics are served here
// too), a refused login and a dead letter on top, then the exposition piped into Debian's
// `promtool check metrics`, which fails on a parse error and on every naming lint (a gauge named
// `_total`, a counter without it, a missing HELP, a unit not in base units…).
//
// The standalone gateway (`testbed gateway run`) serves no HTTP, so it has no /metrics of its
// own; its metric definitions (gateway/gateway.ts, gateway/uplink.ts) are the ones checked here.

import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { runTestbed, testbed, type CliProcess } from '../support/centre.ts';
import { metricSum, parseMetrics, scrapeMetrics, scrapedMetricSum } from '../support/metrics.ts';
import { tempDir, waitFor } from '../support/servers.ts';

const PROMTOOL = '/usr/bin/promtool';
const execFileP = promisify(execFile);
let centre: CliProcess;
let env: Record<string, string>;

/** mosquitto_pub's exit code: 0 once the broker has taken the message, non-zero when it refused the login. */
async function publish(username: string, password: string, topic: string, message: string): Promise<number> {
  const args = ['-h', '127.0.0.1', '-p', String(centre.mqttPort), '-u', username, '-P', password, '-q', '1', '-t', topic, '-m', message];
  return execFileP('mosquitto_pub', args).then(
    () => 0,
    (err: { code: number }) => err.code,
  );
}

beforeAll(async () => {
  if (!existsSync(PROMTOOL)) throw new Error(`${PROMTOOL} not found: install the Debian package 'prometheus' (.ci/run does this)`);
  env = { TESTBED_DATA_DIR: tempDir('testbed-metrics-') };
  centre = await runTestbed(['up', '--sim-history', '1'], env);
}, 90_000);

afterAll(async () => {
  await centre?.kill();
});

describe('GET /metrics', () => {
  it('starts every labelled counter at 0 for each label value it can take', async () => {
    // Read before any traffic of these kinds: the series exist already, at 0.
    expect(await scrapedMetricSum(centre.httpUrl, 'testbed_broker_refusals_total', { reason: 'topic_too_deep' })).toBe(0);
    expect(await scrapedMetricSum(centre.httpUrl, 'testbed_ingest_dead_letters_total', { reason: 'oversize' })).toBe(0);
  });

  it('passes promtool check metrics with traffic flowing, for the centre and the gateway metrics', async () => {
    const cred = JSON.parse(await testbed(['gateway', 'add', '--site', 'metrics', '--gateway', 'gw-1'], env)) as {
      username: string;
      password: string;
    };
    expect(await publish(cred.username, 'wrong', 'lab/v1/metrics/gw-1/up', '{}')).not.toBe(0);
    expect(await publish(cred.username, cred.password, 'lab/v1/metrics/gw-1/up', 'not json')).toBe(0);
    await waitFor(
      'demo readings stored, acked to the virtual gateways, and the refusal and the dead letter counted',
      async () => {
        const samples = parseMetrics(await scrapeMetrics(centre.httpUrl));
        return (
          metricSum(samples, 'testbed_ingest_readings_total', { result: 'stored' }) > 0 &&
          metricSum(samples, 'testbed_gateway_batches_acked_total') > 0 &&
          metricSum(samples, 'testbed_broker_refusals_total', { reason: 'bad_credentials' }) >= 1 &&
          metricSum(samples, 'testbed_ingest_dead_letters_total', { reason: 'invalid_json' }) >= 1
        );
      },
      60_000,
      500,
    );

    const text = await scrapeMetrics(centre.httpUrl);
    const check = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(check.stdout + check.stderr).toBe('');
    expect(check.status).toBe(0);

    const names = new Set(parseMetrics(text).map((s) => s.name));
    // The standard names, which stock dashboards and alerts look for.
    for (const name of [
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
      'process_start_time_seconds',
      'nodejs_heap_size_used_bytes',
    ])
      expect(names).toContain(name);
    for (const name of [
      'testbed_gateway_readings_accepted_total',
      'testbed_gateway_outbox_depth',
      'testbed_ingest_store_write_seconds_count',
    ])
      expect(names).toContain(name);
  }, 90_000);

  it('and promtool does refuse what we avoid (so a pass above means something)', () => {
    const bad = [
      '# HELP testbed_demo_things_total Things.',
      '# TYPE testbed_demo_things_total gauge',
      'testbed_demo_things_total 1',
      '',
    ].join('\n');
    const check = spawnSync(PROMTOOL, ['check', 'metrics'], { input: bad, encoding: 'utf8' });
    expect(check.status).not.toBe(0);
    expect(check.stdout + check.stderr).toContain('non-counter metrics should not have "_total" suffix');
  });
});
