import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { KINDS, KIND_NAMES, QUALITY_FIELDS, checkBatch, checkReading, parseTopic, topics, dataDictionary } from '../../devices/index.ts';

const now = Date.UTC(2026, 10, 22, 12);
const reading = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  dev: 'a-kitchen-cup',
  kind: 'hydration',
  seq: 7,
  ts: now - 1000,
  v: { intake_ml: 120 },
  q: { battery: 80, lqi: 120 },
  ...over,
});

describe('catalogue', () => {
  it('has every welfare kind the trials use', () => {
    for (const k of ['hydration', 'fall', 'incontinence', 'bed', 'chair', 'door', 'motion', 'toilet', 'appliance', 'button', 'climate']) {
      expect(KIND_NAMES).toContain(k);
    }
  });
  it('has no value field that clashes with a quality field or with seq (they share one point)', () => {
    for (const k of Object.values(KINDS)) {
      for (const f of Object.keys(k.fields)) {
        expect(Object.keys(QUALITY_FIELDS)).not.toContain(f);
        expect(f).not.toBe('seq');
      }
    }
  });
  it('gives every kind at least one required field and a silence limit longer than its report interval', () => {
    for (const k of Object.values(KINDS)) {
      expect(Object.values(k.fields).some((f) => 'required' in f && f.required)).toBe(true);
      const every = k.reporting.mode === 'heartbeat' ? k.reporting.intervalS : k.reporting.heartbeatS;
      expect(k.reporting.maxSilenceS).toBeGreaterThan(every);
    }
  });
});

describe('readings', () => {
  it('accepts a valid reading of every kind built from required fields', () => {
    for (const k of Object.values(KINDS)) {
      const v: Record<string, unknown> = {};
      for (const [name, f] of Object.entries(k.fields)) {
        if (!('required' in f && f.required)) continue;
        v[name] =
          f.type === 'boolean'
            ? true
            : f.type === 'string'
              ? (f as { values: readonly string[] }).values[0]
              : ((f as { min?: number }).min ?? 0);
      }
      expect(checkReading(reading({ kind: k.kind, v }), now), k.kind).toBeNull();
    }
  });
  it.each([
    [{ kind: 'teleporter' }, /unknown kind/],
    [{ v: { intake_ml: '120' } }, /expected integer/],
    [{ v: { intake_ml: 12.5 } }, /expected integer/],
    [{ v: { intake_ml: 5000 } }, /implausible/],
    [{ v: {} }, /required/],
    [{ v: { intake_ml: 1, colour: 'red' } }, /unknown field/],
    [{ seq: -1 }, /seq/],
    [{ ts: '2026-01-01' }, /epoch milliseconds/],
    [{ ts: 0 }, /before 2000/],
    [{ ts: now + 2 * 86400_000 }, /clock skew/],
    [{ dev: 'a/b' }, /device id/],
    [{ q: { battery: 140 } }, /implausible/],
    [{ q: { signal: 3 } }, /unknown quality field/],
  ])('refuses %j with a clear reason', (over, reason) => {
    expect(checkReading(reading(over), now)).toMatch(reason);
  });
});

describe('batches', () => {
  const batch = (readings: unknown[], extra: Record<string, unknown> = {}) =>
    JSON.stringify({ gw: 'home-1', batch: 3, sent: now, readings, ...extra });
  it('splits a batch into accepted and rejected readings, keeping the raw rejected one', () => {
    const result = checkBatch(batch([reading(), reading({ kind: 'nope' })]), 'home-1', now);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.accepted).toHaveLength(1);
    expect(result.rejected).toEqual([{ index: 1, reason: expect.stringMatching(/unknown kind/), raw: reading({ kind: 'nope' }) }]);
  });
  it('refuses a whole payload that is not JSON, belongs to another gateway or is too large', () => {
    expect(checkBatch('{not json', 'home-1', now)).toMatchObject({
      ok: false,
      code: 'invalid_json',
      reason: expect.stringMatching(/not JSON/),
    });
    expect(checkBatch(batch([]), 'home-2', now)).toMatchObject({
      ok: false,
      code: 'foreign_gateway',
      reason: expect.stringMatching(/does not match/),
      batchNumber: 3,
    });
    expect(checkBatch(batch(Array.from({ length: 1001 }, () => reading())), 'home-1', now)).toMatchObject({
      ok: false,
      code: 'oversize',
      reason: expect.stringMatching(/exceeds 1000/),
    });
    expect(checkBatch('x'.repeat(600 * 1024), 'home-1', now)).toMatchObject({
      ok: false,
      code: 'oversize',
      reason: expect.stringMatching(/bytes exceeds/),
    });
    expect(checkBatch(JSON.stringify({ gw: 'home-1', batch: 1, sent: now, readings: 'many' }), 'home-1', now)).toMatchObject({
      ok: false,
      code: 'invalid_batch',
      batchNumber: 1,
    });
  });
});

describe('topics', () => {
  it('round-trips every gateway topic', () => {
    expect(parseTopic(topics.up('halmstad', 'home-1'))).toEqual({ site: 'halmstad', gateway: 'home-1', channel: 'up', rest: [] });
    expect(parseTopic(topics.cmdReply('s', 'g', 'permit_join'))).toEqual({
      site: 's',
      gateway: 'g',
      channel: 'cmd',
      rest: ['permit_join', 'reply'],
    });
    expect(parseTopic('lab/v2/s/g/up')).toBeNull();
    expect(parseTopic('lab/v1/S!/g/up')).toBeNull();
    expect(parseTopic('lab/v1/s/g/telemetry')).toBeNull();
  });
});

describe('data dictionary', () => {
  it('documents every kind and field, and the committed copy is up to date', () => {
    const md = dataDictionary();
    for (const k of Object.values(KINDS)) {
      expect(md).toContain(`## \`${k.kind}\``);
      for (const f of Object.keys(k.fields)) expect(md).toContain(`\`${f}\``);
    }
    expect(readFileSync(new URL('../../docs/data-dictionary.md', import.meta.url), 'utf8')).toBe(md);
  });
});
