import { describe, it, expect } from 'vitest';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LogLimiter } from '../../ingest/pipeline.ts';
import { DeadLetterStore, rawPayload } from '../../ingest/dead-letters.ts';
import { backoffDelayMs } from '../../lib/retry.ts';

describe('dead-letter logging is rate-limited per gateway', () => {
  it('logs a burst per window, then one summary line; other gateways are unaffected', () => {
    const lines: { msg: string; suppressed?: number }[] = [];
    const log = pino(
      { level: 'warn' },
      new Writable({
        write: (chunk, _e, cb) => {
          lines.push(JSON.parse(String(chunk)));
          cb();
        },
      }),
    );
    const limiter = new LogLimiter(60_000, 3);
    for (let i = 0; i < 1000; i++) limiter.hit('s/flood', log, { i }, 1000 + i);
    limiter.hit('s/quiet', log, {}, 2000);
    expect(lines.filter((l) => l.msg === 'dead letter')).toHaveLength(4);
    limiter.hit('s/flood', log, {}, 61_001);
    expect(lines.find((l) => l.msg.startsWith('more dead letters'))?.suppressed).toBe(997);
  });
});

describe('DeadLetterStore', () => {
  it('drops dead letters older than the retention at open, counts them, and keeps the rest', () => {
    const dir = mkdtempSync(join(tmpdir(), 'testbed-dl-retention-'));
    try {
      const now = Date.now();
      const day = 86_400_000;
      const entry = (receivedAt: number, gateway: string) =>
        ({ receivedAt, site: 's', gateway, batch: null, index: null, class: 'invalid_json', reason: 'not JSON', raw: 'x' }) as const;
      const first = new DeadLetterStore(dir);
      first.add([entry(now - 100 * day, 'g1'), entry(now - 95 * day, 'g2'), entry(now - 10 * day, 'g1'), entry(now, 'g2')]);
      first.close();
      const reopened = new DeadLetterStore(dir, { retentionMs: 90 * day });
      try {
        expect(reopened.dropped()).toEqual({ bytes: 0, age: 2 });
        expect(reopened.count()).toBe(2);
        expect(reopened.list({}).map((d) => d.receivedAt)).toEqual([now, now - 10 * day]);
      } finally {
        reopened.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps raw text or base64, filters and counts by class', () => {
    const dl = new DeadLetterStore(':memory:');
    expect(rawPayload(Buffer.from('{"a":1}'))).toEqual({ raw: '{"a":1}', encoding: 'utf8' });
    expect(rawPayload(Buffer.from([0xc3, 0x28]))).toEqual({ raw: 'wyg=', encoding: 'base64' });
    dl.add([
      { receivedAt: 10, site: 'a', gateway: 'g1', batch: 1, index: null, class: 'invalid_json', reason: 'not JSON', raw: 'x' },
      { receivedAt: 20, site: 'a', gateway: 'g2', batch: 2, index: 3, class: 'invalid_reading', reason: 'v.x', raw: '{}' },
      {
        receivedAt: 30,
        site: 'b',
        gateway: 'g1',
        batch: null,
        index: null,
        class: 'invalid_json',
        reason: 'not JSON',
        raw: 'wyg=',
        encoding: 'base64',
      },
    ]);
    expect(dl.count()).toBe(3);
    expect(dl.countByReason()).toEqual({ invalid_json: 2, invalid_reading: 1 });
    expect(dl.list({ gateway: 'g1' }).map((d) => d.receivedAt)).toEqual([30, 10]);
    expect(dl.list({ since: 20, site: 'a' })).toMatchObject([{ gateway: 'g2', batch: 2, index: 3, class: 'invalid_reading' }]);
    expect(dl.list({ limit: 1 })[0]!.encoding).toBe('base64');
    dl.close();
  });
});

describe('retry backoff', () => {
  it('grows exponentially with jitter and stays within its bounds', () => {
    for (let attempt = 0; attempt < 30; attempt++) {
      const d = backoffDelayMs(attempt, { minMs: 100, maxMs: 5000 });
      expect(d).toBeGreaterThanOrEqual(50);
      expect(d).toBeLessThanOrEqual(Math.min(5000, 100 * 2 ** attempt));
    }
  });
});
