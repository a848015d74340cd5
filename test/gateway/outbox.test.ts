// (a) The outbox on its own: per-device seqs are contiguous and survive reopening, batch numbers
// are persisted and monotonic, a numbered batch never changes, ack deletes exactly one batch,
// and the cap refuses loudly without evicting anything. Both implementations run the same
// behaviour tests; the durability tests are SqliteOutbox-only.

import { describe, it, expect, afterAll } from 'vitest';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { SqliteOutbox, MemoryOutbox, OutboxFullError, type Outbox } from '../../gateway/index.ts';
import type { Reading } from '../../devices/contract.ts';
import { tempDir } from '../support/servers.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function dbPath(): string {
  const d = tempDir('testbed-outbox-');
  dirs.push(d);
  return join(d, 'outbox.db');
}

const T0 = Date.UTC(2025, 0, 1);
const door = (dev: string, i: number): Omit<Reading, 'seq'> => ({
  dev,
  kind: 'door',
  ts: T0 + i,
  v: { open: i % 2 === 0 },
  q: { battery: 90 },
});

const impls: [string, (opts?: { maxReadings?: number }) => Outbox][] = [
  ['SqliteOutbox', (opts) => new SqliteOutbox(dbPath(), opts)],
  ['MemoryOutbox', (opts) => new MemoryOutbox(opts)],
];

describe.each(impls)('%s', (_name, make) => {
  it('assigns contiguous seqs per device, from 1', () => {
    const ob = make();
    const got = new Map<string, number[]>();
    for (let i = 0; i < 300; i++) {
      const dev = ['a', 'b', 'c'][i % 3]!;
      const r = ob.accept(door(dev, i));
      got.set(dev, [...(got.get(dev) ?? []), r.seq]);
    }
    for (const dev of ['a', 'b', 'c']) expect(got.get(dev)).toEqual(Array.from({ length: 100 }, (_, k) => k + 1));
    expect(ob.stats()).toMatchObject({ depth: 300, unbatched: 300, inFlightBatches: 0, oldestTs: T0, capHit: false, refused: 0 });
    ob.close();
  });

  it('numbers batches oldest first, keeps them unchanged, acks exactly one batch', () => {
    const ob = make();
    for (let i = 0; i < 25; i++) ob.accept(door(`d${i % 2}`, i));
    const b1 = ob.nextBatch(10)!;
    const b2 = ob.nextBatch(10)!;
    const b3 = ob.nextBatch(10)!;
    expect(ob.nextBatch(10)).toBeNull();
    expect([b1.readings.length, b2.readings.length, b3.readings.length]).toEqual([10, 10, 5]);
    expect(b2.batch).toBeGreaterThan(b1.batch);
    expect(b3.batch).toBeGreaterThan(b2.batch);
    expect(b1.readings.map((r) => r.ts)).toEqual(Array.from({ length: 10 }, (_, k) => T0 + k));
    expect(ob.unackedBatches()).toEqual([b1.batch, b2.batch, b3.batch]);
    // A batch reads back identically until acked (that is what a resend sends).
    expect(ob.batch(b2.batch)).toEqual(b2.readings);
    ob.accept(door('d0', 99));
    expect(ob.batch(b2.batch)).toEqual(b2.readings);
    expect(ob.ack(b2.batch)).toBe(10);
    expect(ob.ack(b2.batch)).toBe(0);
    expect(ob.ack(12345)).toBe(0);
    expect(ob.batch(b2.batch)).toBeNull();
    expect(ob.unackedBatches()).toEqual([b1.batch, b3.batch]);
    expect(ob.stats()).toMatchObject({ depth: 16, unbatched: 1, inFlightBatches: 2 });
    const b4 = ob.nextBatch(10)!;
    expect(b4.batch).toBeGreaterThan(b3.batch);
    expect(b4.readings).toEqual([{ dev: 'd0', kind: 'door', seq: 14, ts: T0 + 99, v: { open: false }, q: { battery: 90 } }]);
    ob.close();
  });

  it('keeps a batch under maxBytes (but always takes at least one reading)', () => {
    const ob = make();
    for (let i = 0; i < 50; i++) ob.accept({ ...door('x', 10 + i), v: { open: true } }); // all the same size
    const one = JSON.stringify(ob.batch(ob.nextBatch(1)!.batch)![0]).length;
    const b = ob.nextBatch(100, 2 + 5 * (one + 1))!;
    expect(b.readings.length).toBe(5);
    expect(ob.nextBatch(100, 10)!.readings.length).toBe(1);
    ob.close();
  });

  it('addSequenced keeps the given seqs and moves the counter past them', () => {
    const ob = make();
    ob.accept(door('r', 0));
    ob.addSequenced([
      { ...door('r', 1), seq: 7 },
      { ...door('s', 2), seq: 3 },
    ]);
    expect(ob.accept(door('r', 3)).seq).toBe(8);
    expect(ob.accept(door('s', 4)).seq).toBe(4);
    expect(() => ob.addSequenced([{ ...door('r', 5), seq: -1 }])).toThrow(RangeError);
    expect(ob.stats().depth).toBe(5);
    ob.close();
  });

  it('refuses loudly at the cap, evicts nothing, and accepts again after an ack', () => {
    const ob = make({ maxReadings: 10 });
    for (let i = 0; i < 10; i++) ob.accept(door('c', i));
    expect(ob.stats().capHit).toBe(true);
    let thrown: unknown;
    try {
      ob.accept(door('c', 10));
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(OutboxFullError);
    expect((thrown as Error).message).toMatch(/outbox full: 10 of 10/);
    expect(() => ob.accept(door('c', 11))).toThrow(OutboxFullError);
    expect(() => ob.addSequenced([{ ...door('c', 12), seq: 100 }])).toThrow(OutboxFullError);
    expect(ob.stats()).toMatchObject({ depth: 10, capHit: true, refused: 3, oldestTs: T0 });
    // Nothing evicted: the ten first readings are all still there, in order, seqs 1..10.
    const b = ob.nextBatch(100)!;
    expect(b.readings.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    // A refused reading consumed no seq.
    expect(ob.ack(b.batch)).toBe(10);
    expect(ob.stats()).toMatchObject({ depth: 0, capHit: false, refused: 3, oldestTs: null });
    expect(ob.accept(door('c', 13)).seq).toBe(11);
    ob.close();
  });
});

describe('SqliteOutbox durability', () => {
  it('seqs, batch numbers, unacked batches and refusals survive reopening; seqs are never reused after deletes', () => {
    const path = dbPath();
    let ob = new SqliteOutbox(path, { maxReadings: 1000 });
    for (let i = 0; i < 30; i++) ob.accept(door(`d${i % 3}`, i));
    const b1 = ob.nextBatch(12)!;
    const b2 = ob.nextBatch(12)!;
    expect(ob.ack(b1.batch)).toBe(12); // every reading of b1 deleted …
    ob.close();

    ob = new SqliteOutbox(path, { maxReadings: 1000 });
    expect(ob.stats()).toMatchObject({ depth: 18, unbatched: 6, inFlightBatches: 1 });
    expect(ob.unackedBatches()).toEqual([b2.batch]);
    expect(ob.batch(b2.batch)).toEqual(b2.readings);
    // … yet the counters continue: d0 had seqs 1..10, the next is 11.
    expect(ob.accept(door('d0', 100)).seq).toBe(11);
    expect(ob.accept(door('new', 101)).seq).toBe(1);
    const b3 = ob.nextBatch(100)!;
    expect(b3.batch).toBe(b2.batch + 1);
    expect(b3.readings.map((r) => `${r.dev}:${r.seq}`)).toEqual(['d0:9', 'd1:9', 'd2:9', 'd0:10', 'd1:10', 'd2:10', 'd0:11', 'new:1']);
    // Ack everything, reopen: empty, but counters and batch numbers carry on.
    ob.ack(b2.batch);
    ob.ack(b3.batch);
    ob.close();
    ob = new SqliteOutbox(path, { maxReadings: 1 });
    expect(ob.stats()).toMatchObject({ depth: 0, unbatched: 0, inFlightBatches: 0, oldestTs: null, refused: 0 });
    expect(ob.accept(door('d1', 200)).seq).toBe(11);
    expect(() => ob.accept(door('d1', 201))).toThrow(OutboxFullError);
    expect(ob.nextBatch(10)!.batch).toBe(b3.batch + 1);
    ob.close();
    ob = new SqliteOutbox(path, { maxReadings: 1 });
    expect(ob.stats()).toMatchObject({ depth: 1, refused: 1, capHit: true });
    ob.close();
  });

  it('a failed accept (reading too large) leaves no row and consumes no seq', () => {
    const ob = new SqliteOutbox(dbPath());
    ob.accept(door('z', 0));
    expect(() => ob.accept({ dev: 'z', kind: 'door', ts: T0, v: { open: true, note: 'x'.repeat(600_000) } })).toThrow(RangeError);
    expect(ob.accept(door('z', 1)).seq).toBe(2);
    expect(ob.stats().depth).toBe(2);
    ob.close();
  });
});
