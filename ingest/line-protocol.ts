// InfluxDB line protocol for readings.
//
// One reading is one point:
//
//   <kind>,device=<dev>,gateway=<gw>,site=<site>[,<extra tags>] <v fields>,<q fields>,seq=<seq>i <ts_ns>
//
// * measurement = the reading's kind; tags = site, gateway, device (+ tags from the enrich hook,
//   e.g. home and participant pseudonym later). Never per-reading values as tags (cardinality).
// * field types come from the CATALOGUE, not from the JSON value: an `integer` field is written
//   with the `i` suffix, a `number` field as a float even when the value happens to be whole (a
//   bare `21` is a float in line protocol; writing `21i` once would fix the field as integer
//   in that shard and every later `21.5` would be refused as a type conflict), booleans as
//   true/false, strings quoted. Quality fields (`q`) and `seq` are integers.
// * timestamp (ns) = ts_ms * 1e6 + (seq mod 1e6). InfluxDB identifies a point by measurement,
//   tag set and timestamp. Folding the seq into the sub-millisecond digits makes that identity
//   (kind, tags, ts, seq): a resend of the same reading rewrites the very same point (writes are
//   idempotent, which is what makes at-least-once delivery exactly-once in the store), while two
//   readings of one device within the same millisecond (different seq) stay two points instead
//   of the second silently overwriting the first. Queries at ms precision still see `ts`.
//   Caveat: stores that keep only ms (VictoriaMetrics) lose that distinction.

import { KINDS, QUALITY_FIELDS, type FieldSpec, type Reading } from '../devices/index.ts';

export class LineProtocolError extends Error {
  override name = 'LineProtocolError';
}

/** Measurement names: escape commas and spaces. */
export function escapeMeasurement(s: string): string {
  checkNoNewline(s, 'measurement');
  return s.replace(/[, ]/g, (c) => `\\${c}`);
}

/** Tag keys, tag values and field keys: escape commas, equals signs and spaces. */
export function escapeKey(s: string): string {
  checkNoNewline(s, 'tag or field');
  if (s === '') throw new LineProtocolError('empty tag key, tag value or field key');
  // A trailing backslash would escape the separator after it, and InfluxDB 1.x does not unescape
  // a doubled backslash in tags: there is no faithful encoding, so refuse it.
  if (s.endsWith('\\')) throw new LineProtocolError(`tag or field ends with a backslash: ${JSON.stringify(s)}`);
  return s.replace(/[,= ]/g, (c) => `\\${c}`);
}

/** String field values: double quotes, backslashes escaped. */
export function escapeStringField(s: string): string {
  return `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

function checkNoNewline(s: string, what: string): void {
  // Line protocol has no escape for a newline in names or tag values; refuse rather than split a point.
  if (/[\n\r]/.test(s)) throw new LineProtocolError(`${what} contains a newline: ${JSON.stringify(s)}`);
}

/** Renders one field value by its catalogue type. */
export function fieldValue(spec: FieldSpec, value: unknown, name: string): string {
  switch (spec.type) {
    case 'integer':
      if (typeof value !== 'number' || !Number.isSafeInteger(value))
        throw new LineProtocolError(`${name}: expected integer, got ${String(value)}`);
      return `${value}i`;
    case 'number': {
      if (typeof value !== 'number' || !Number.isFinite(value))
        throw new LineProtocolError(`${name}: expected a finite number, got ${String(value)}`);
      // String(21) is "21": without the `i` suffix line protocol reads it as a float, as the catalogue wants.
      return String(value);
    }
    case 'boolean':
      if (typeof value !== 'boolean') throw new LineProtocolError(`${name}: expected boolean, got ${String(value)}`);
      return value ? 'true' : 'false';
    case 'string':
      if (typeof value !== 'string') throw new LineProtocolError(`${name}: expected string, got ${String(value)}`);
      return escapeStringField(value);
  }
}

/** The point's timestamp in ns as a decimal string: ts_ms * 1e6 + (seq mod 1e6), exact (no float rounding). */
export function timestampNs(tsMs: number, seq: number): string {
  if (!Number.isSafeInteger(tsMs) || tsMs < 0) throw new LineProtocolError(`ts: expected epoch milliseconds, got ${tsMs}`);
  if (!Number.isSafeInteger(seq) || seq < 0) throw new LineProtocolError(`seq: expected a non-negative integer, got ${seq}`);
  const sub = String(seq % 1_000_000).padStart(6, '0');
  return tsMs === 0 ? String(Number(sub)) : `${tsMs}${sub}`;
}

/** Milliseconds and the seq's low digits back from a ns timestamp string. */
export function splitTimestampNs(ns: string): { tsMs: number; seqLow: number } {
  const padded = ns.padStart(7, '0');
  return { tsMs: Number(padded.slice(0, -6)), seqLow: Number(padded.slice(-6)) };
}

export interface PointTags {
  site: string;
  gateway: string;
  /** Extra tags (the registry's seam: home, participant pseudonym…). site/gateway/device win. */
  extra?: Record<string, string> | undefined;
}

/**
 * The escaped "measurement,tags" prefix of a point, cached: a home's few dozen devices send
 * thousands of readings, and escaping the same tags each time was a tenth of ingest's CPU.
 */
const prefixCache = new Map<string, string>();
const PREFIX_CACHE_MAX = 100_000;

function prefix(reading: Reading, tags: PointTags): string {
  const extra = tags.extra;
  const key = `${reading.kind}\u0000${tags.site}\u0000${tags.gateway}\u0000${reading.dev}${extra ? `\u0000${JSON.stringify(extra)}` : ''}`;
  let cached = prefixCache.get(key);
  if (cached === undefined) {
    const tagMap: Record<string, string> = { ...(extra ?? {}), site: tags.site, gateway: tags.gateway, device: reading.dev };
    // Sorted tag keys: what InfluxDB does anyway, cheaper for it when we do it.
    const tagPart = Object.keys(tagMap)
      .sort()
      .filter((k) => tagMap[k] !== '' && tagMap[k] !== undefined)
      .map((k) => `${escapeKey(k)}=${escapeKey(tagMap[k]!)}`)
      .join(',');
    cached = `${escapeMeasurement(reading.kind)}${tagPart ? `,${tagPart}` : ''}`;
    if (prefixCache.size >= PREFIX_CACHE_MAX) prefixCache.clear();
    prefixCache.set(key, cached);
  }
  return cached;
}

/** Field keys come from the catalogue: escape each name once. */
const fieldKeyCache = new Map<string, string>();
function fieldKey(name: string): string {
  let k = fieldKeyCache.get(name);
  if (k === undefined) {
    k = escapeKey(name);
    fieldKeyCache.set(name, k);
  }
  return k;
}

const SEQ_SPEC: FieldSpec = { type: 'integer', description: '' };

/** One reading as one line (no trailing newline). Throws LineProtocolError for what cannot be written. */
export function toLine(reading: Reading, tags: PointTags): string {
  const spec = KINDS[reading.kind];
  if (!spec) throw new LineProtocolError(`kind: unknown kind ${String(reading.kind)}`);
  let fields = '';
  const vSpecs: Readonly<Record<string, FieldSpec>> = spec.fields;
  for (const name in reading.v) {
    const fs = vSpecs[name];
    if (!fs) throw new LineProtocolError(`v.${name}: unknown field for kind ${reading.kind}`);
    fields += `${fieldKey(name)}=${fieldValue(fs, reading.v[name], `v.${name}`)},`;
  }
  const qSpecs: Readonly<Record<string, FieldSpec>> = QUALITY_FIELDS;
  const q = reading.q;
  if (q) {
    for (const name in q) {
      const fs = qSpecs[name];
      if (!fs) throw new LineProtocolError(`q.${name}: unknown quality field`);
      const value = q[name as keyof typeof q];
      if (value === undefined) continue;
      fields += `${fieldKey(name)}=${fieldValue(fs, value, `q.${name}`)},`;
    }
  }
  fields += `seq=${fieldValue(SEQ_SPEC, reading.seq, 'seq')}`;
  return `${prefix(reading, tags)} ${fields} ${timestampNs(reading.ts, reading.seq)}`;
}
