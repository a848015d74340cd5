// The metric reader reads what prom-client writes, and the corners of the text format.

import { describe, it, expect } from 'vitest';
import { Counter, Histogram, Registry } from 'prom-client';
import { metricSum, parseMetrics } from './metrics.ts';

describe('parseMetrics', () => {
  it('reads what prom-client writes: labels with escapes, histograms', async () => {
    const registry = new Registry();
    const c = new Counter({ name: 'demo_total', help: 'Demo.', labelNames: ['why'], registers: [registry] });
    c.inc({ why: 'a "quoted", back\\slashed\nline' }, 2);
    c.inc({ why: 'plain' }, 3);
    const h = new Histogram({ name: 'demo_seconds', help: 'Demo.', buckets: [0.1, 1], registers: [registry] });
    h.observe(0.5);
    const samples = parseMetrics(await registry.metrics());
    expect(samples.filter((s) => s.name === 'demo_total')).toEqual([
      { name: 'demo_total', labels: { why: 'a "quoted", back\\slashed\nline' }, value: 2 },
      { name: 'demo_total', labels: { why: 'plain' }, value: 3 },
    ]);
    expect(metricSum(samples, 'demo_total')).toBe(5);
    expect(metricSum(samples, 'demo_total', { why: 'plain' })).toBe(3);
    expect(metricSum(samples, 'demo_seconds_bucket', { le: '+Inf' })).toBe(1);
    expect(metricSum(samples, 'demo_seconds_bucket', { le: '0.1' })).toBe(0);
    expect(metricSum(samples, 'demo_seconds_sum')).toBe(0.5);
  });

  it('reads NaN, ±Inf, exponents, timestamps and a trailing comma; refuses malformed lines', () => {
    const samples = parseMetrics(
      ['# HELP x X.', '# TYPE x gauge', 'x{a="1",} NaN', 'x{a="2"} +Inf 1700000000000', 'x{a="3"} -1.5e3', 'y 7', ''].join('\n'),
    );
    expect(samples.map((s) => s.value)).toEqual([Number.NaN, Number.POSITIVE_INFINITY, -1500, 7]);
    expect(samples[0]!.labels).toEqual({ a: '1' });
    for (const bad of ['x{a=1} 2', 'x{a="1" 2', 'x', 'x two', '{a="1"} 2', 'x 1 2 3']) expect(() => parseMetrics(bad), bad).toThrow();
  });

  it('throws on a metric that is not there instead of reading 0', () => {
    expect(() => metricSum(parseMetrics('y 7\n'), 'testbed_no_such_total')).toThrow(/no metric testbed_no_such_total/);
  });
});
