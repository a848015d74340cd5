// Replay of the real UCI ADL logs: counts checked against an independent count of the files.

import { describe, it, expect } from 'vitest';
import { readFileSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { Writable } from 'node:stream';
import { checkReading } from '../../devices/index.ts';
import { parseUciSensors, replayUci } from '../../simulators/index.ts';
import { uciSensorsPath } from '../support/datasets.ts';

const FILES = { a: uciSensorsPath('a'), b: uciSensorsPath('b') };

/** Independent count: rows per sensor, by a plain whitespace split of the data lines. */
function rowsPerSensor(path: string, home: string): Map<string, number> {
  const counts = new Map<string, number>();
  const rows = readFileSync(path, 'latin1').split('\n').slice(2);
  for (const row of rows) {
    const f = row.trim().split(/\s+/);
    if (f.length < 7) continue;
    const id = `${home}-${f[6]}-${f[4]}`.toLowerCase();
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

describe('UCI ADL replay', () => {
  for (const [home, file] of Object.entries(FILES)) {
    it(`home ${home}: readings per device = 2 × the sensor's rows; ids <home>-<place>-<location>; time order`, () => {
      const p = parseUciSensors(readFileSync(file), { home });
      expect(p.errors).toEqual([]);
      const expected = rowsPerSensor(file, home);
      const got = new Map<string, number>();
      for (const r of p.readings) got.set(r.dev, (got.get(r.dev) ?? 0) + 1);
      expect([...got.keys()].sort()).toEqual([...expected.keys()].sort());
      for (const [dev, rows] of expected) expect(got.get(dev), dev).toBe(2 * rows);
      for (let i = 1; i < p.readings.length; i++) expect(p.readings[i]!.ts).toBeGreaterThanOrEqual(p.readings[i - 1]!.ts);
      for (const r of p.readings) expect(checkReading(r, Date.now())).toBeNull();
      // Per device: seq from 1, and on/off alternate in the order of the events' edges.
      const bySeq = new Map<string, number>();
      for (const r of p.readings) {
        expect(r.seq).toBe((bySeq.get(r.dev) ?? 0) + 1);
        bySeq.set(r.dev, r.seq);
      }
    });
  }

  it('maps sensors to kinds: bed/seat pressure → bed/chair, flush → toilet, magnetic → door, PIR → motion, electric → appliance', () => {
    const p = parseUciSensors(readFileSync(FILES.a), { home: 'a' });
    const kinds = Object.fromEntries(p.readings.map((r) => [r.dev, r.kind]));
    expect(kinds).toMatchObject({
      'a-bedroom-bed': 'bed',
      'a-living-seat': 'chair',
      'a-bathroom-toilet': 'toilet',
      'a-entrance-maindoor': 'door',
      'a-kitchen-fridge': 'door',
      'a-bathroom-cabinet': 'door',
      'a-bathroom-basin': 'motion',
      'a-kitchen-toaster': 'appliance',
    });
    const first = p.readings.filter((r) => r.dev === 'a-bedroom-bed').slice(0, 2);
    // 2011-11-28 02:27:59 → 10:18:11 local (CET, UTC+1).
    expect(first.map((r) => [new Date(r.ts).toISOString(), r.v])).toEqual([
      ['2011-11-28T01:27:59.000Z', { occupied: true }],
      ['2011-11-28T09:18:11.000Z', { occupied: false }],
    ]);
  });

  it('reports the out-of-order rows of home B (lines 327, 1577, 2067, 2143) and replays them in time order', () => {
    const p = parseUciSensors(readFileSync(FILES.b), { home: 'b' });
    expect(p.outOfOrder.map((o) => o.line)).toEqual([327, 1577, 2067, 2143]);
  });

  it('reports a malformed line with its line number and reason; the rest is replayed', () => {
    const text = readFileSync(FILES.a, 'latin1').split('\n');
    text[9] = '2011-11-28 10:3x:00\t\t2011-11-28 10:40:00\t\tBasin\t\tPIR\t\tBathroom'; // line 10
    text[19] = 'garbage'; // line 20
    text[29] = '2011-11-28 10:30:00\t\t2011-11-28 10:40:00\t\tBasin\t\tSonar\t\tBathroom'; // line 30
    const path = join(tmpdir(), `testbed-uci-${process.pid}.txt`);
    writeFileSync(path, `${text.join('\r\n')}\t\t\r\n`, 'latin1');
    try {
      const p = parseUciSensors(readFileSync(path), { home: 'a' });
      expect(p.errors.map((e) => e.line)).toEqual([10, 20, 30]);
      expect(p.errors[0]!.reason).toMatch(/^start: expected 'YYYY-MM-DD HH:MM:SS'/);
      expect(p.errors[1]!.reason).toMatch(/expected 7 fields/);
      expect(p.errors[2]!.reason).toMatch(/type: expected PIR, Magnetic, Flush, Pressure or Electric, got 'Sonar'/);
      expect(p.events).toHaveLength(409 - 3);
    } finally {
      rmSync(path, { force: true });
    }
  });

  it('shifts timestamps to --from and writes NDJSON', async () => {
    const chunks: string[] = [];
    const out = new Writable({
      write: (c: Buffer, _e, cb) => {
        chunks.push(c.toString());
        cb();
      },
    });
    const from = Date.parse('2025-01-06T00:00:00Z');
    const res = await replayUci({ file: FILES.a, home: 'a', from, out, speed: 'max' });
    const ls = chunks
      .join('')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { ts: number; site: string; gw: string });
    expect(ls).toHaveLength(2 * 409);
    expect(res.readings).toBe(2 * 409);
    expect(ls[0]!.ts).toBe(from);
    expect(ls[0]).toMatchObject({ site: 'uci', gw: 'uci-a' });
  });
});
