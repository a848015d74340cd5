// The quoting functions, as text and as InfluxDB reads them: a tag value or a measurement name
// with a backslash, a quote or a newline must find exactly its own points and never break the query.

import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { DatabaseSync } from 'node:sqlite';
import { quoteInfluxIdent, quoteInfluxString, quoteSqlString } from '../../lib/quote.ts';
import { startInfluxd, influxQuery, type ServerHandle } from '../support/servers.ts';
import { escapeKey, escapeMeasurement, escapeStringField } from '../../ingest/line-protocol.ts';

describe('InfluxQL quoting, as text', () => {
  it.each([
    ['plain', `"plain"`, `'plain'`],
    ['a"b', `"a\\"b"`, `'a"b'`],
    ["a'b", `"a'b"`, `'a\\'b'`],
    ['a\\b', `"a\\\\b"`, `'a\\\\b'`],
    ['ends in \\', `"ends in \\\\"`, `'ends in \\\\'`],
    ['\\"', `"\\\\\\""`, `'\\\\"'`],
    ['line\nbreak', `"line\\nbreak"`, `'line\\nbreak'`],
  ])('%j', (raw, ident, literal) => {
    expect(quoteInfluxIdent(raw)).toBe(ident);
    expect(quoteInfluxString(raw)).toBe(literal);
  });
});

describe('SQL string quoting', () => {
  it.each([
    ['plain', `'plain'`],
    ["it's", `'it''s'`],
    ['a\\b', `'a\\b'`],
    ['line\nbreak', `'line\nbreak'`],
  ])('%j', (raw, quoted) => expect(quoteSqlString(raw)).toBe(quoted));

  it('SQLite reads back exactly the value', () => {
    const db = new DatabaseSync(':memory:');
    for (const raw of ["it's", 'a\\b', "\\'", 'line\nbreak', "''"]) {
      expect((db.prepare(`SELECT ${quoteSqlString(raw)} AS v`).get() as { v: string }).v).toBe(raw);
    }
    db.close();
  });
});

describe('InfluxQL quoting, as InfluxDB 1.x reads it', () => {
  let influx: ServerHandle;
  const db = 'quoting';
  const measurement = 'we"ird\\m';
  // Values that would break or widen a hand-quoted query, stored both as a tag and as a string
  // field. Line protocol refuses a tag ending in a backslash, so that one is only a field; it
  // cannot carry a newline in a tag either, so the newline is a query that parses and finds nothing.
  const values = ['plain', "o'brien", 'back\\slash', "\\'", 'say "hi"', 'ends\\'];
  const taggable = (v: string) => !v.endsWith('\\');

  beforeAll(async () => {
    influx = await startInfluxd();
    await fetch(`${influx.url}/query?q=${encodeURIComponent(`CREATE DATABASE ${quoteInfluxIdent(db)}`)}`, { method: 'POST' });
    const lines = values.map(
      (v, i) => `${escapeMeasurement(measurement)}${taggable(v) ? `,t=${escapeKey(v)}` : ''} n=${i}i,s=${escapeStringField(v)} ${1e12 + i}`,
    );
    const res = await fetch(`${influx.url}/write?db=${db}&precision=ms`, { method: 'POST', body: lines.join('\n') });
    expect(res.status).toBe(204);
  });
  afterAll(async () => {
    await influx?.stop();
  });

  const from = () => `SELECT n FROM ${quoteInfluxIdent(measurement)}`;

  it.each(values.map((v, i) => [v, i] as const))('%j as a string field finds exactly its point', async (v, n) => {
    const rows = await influxQuery(influx.url, db, `${from()} WHERE "s" = ${quoteInfluxString(v)}`);
    expect(rows.map((r) => r.n)).toEqual([n]);
  });

  it.each(values.map((v, i) => [v, i] as const).filter(([v]) => taggable(v)))('%j as a tag finds exactly its point', async (v, n) => {
    const rows = await influxQuery(influx.url, db, `${from()} WHERE ${quoteInfluxIdent('t')} = ${quoteInfluxString(v)}`);
    expect(rows.map((r) => r.n)).toEqual([n]);
  });

  it('a newline in a literal or an identifier parses, and matches nothing', async () => {
    expect(await influxQuery(influx.url, db, `${from()} WHERE "s" = ${quoteInfluxString('a\nb')}`)).toEqual([]);
    expect(await influxQuery(influx.url, db, `SELECT n FROM ${quoteInfluxIdent('no\nsuch')}`)).toEqual([]);
  });
});
