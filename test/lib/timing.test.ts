// The one backoff and the one set of timeout helpers (lib/retry.ts, lib/timeout.ts).

import { describe, it, expect } from 'vitest';
import { backoffDelayMs } from '../../lib/retry.ts';
import { Waiters, settledWithin, sleep, withTimeout } from '../../lib/timeout.ts';

describe('backoffDelayMs', () => {
  it('with jitter: between min/2 and the doubling ceiling, capped at max', () => {
    for (let attempt = 0; attempt < 30; attempt++) {
      const d = backoffDelayMs(attempt, { minMs: 100, maxMs: 5000 });
      expect(d).toBeGreaterThanOrEqual(50);
      expect(d).toBeLessThanOrEqual(Math.min(5000, 100 * 2 ** attempt));
    }
  });
  it('without jitter: exactly the ceiling (1 s doubling, at most 5 min)', () => {
    const delays = [0, 1, 2, 8, 9, 1000].map((a) => backoffDelayMs(a, { minMs: 1000, maxMs: 300_000, jitter: false }));
    expect(delays).toEqual([1000, 2000, 4000, 256_000, 300_000, 300_000]);
  });
});

describe('timeouts', () => {
  it('withTimeout: the value when in time, the message when not', async () => {
    await expect(withTimeout(Promise.resolve(7), 1000, 'late')).resolves.toBe(7);
    await expect(withTimeout(sleep(200), 20, 'too slow')).rejects.toThrow('too slow');
    await expect(withTimeout(Promise.reject(new Error('own')), 1000, 'late')).rejects.toThrow('own');
  });
  it('settledWithin: true for a resolution or a rejection in time, false otherwise', async () => {
    expect(await settledWithin(Promise.resolve(), 1000)).toBe(true);
    expect(await settledWithin(Promise.reject(new Error('x')), 1000)).toBe(true);
    expect(await settledWithin(sleep(200), 20)).toBe(false);
  });
  it('sleep wakes up early when its signal aborts', async () => {
    const ac = new AbortController();
    const started = performance.now();
    setTimeout(() => ac.abort(), 20);
    await sleep(5000, ac.signal);
    expect(performance.now() - started).toBeLessThan(1000);
  });
});

describe('Waiters', () => {
  it('resolves every waiter at once, rejects on its own deadline or with rejectAll', async () => {
    const w = new Waiters();
    const a = w.wait(undefined, () => 'never');
    const b = w.wait(5000, () => 'late');
    const late = w.wait(10, () => 'waited 10 ms');
    await expect(late).rejects.toThrow('waited 10 ms');
    expect(w.size).toBe(2);
    w.resolveAll();
    await expect(Promise.all([a, b])).resolves.toEqual([undefined, undefined]);
    const c = w.wait(5000, () => 'late');
    w.rejectAll(new Error('stopped'));
    await expect(c).rejects.toThrow('stopped');
    expect(w.size).toBe(0);
  });
});
