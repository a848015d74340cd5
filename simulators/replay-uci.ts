// Replay of the real UCI ADL binary-sensor logs (Ordóñez et al. 2013, homes A and B; see
// test/fixtures/uci-adl/SOURCE.md). Each row is an event with a start and an end; every
// physical sensor becomes its own device `<home>-<place>-<location>` (lowercase), and each
// event gives two readings: active at its start, inactive at its end.
//
// Tolerant of the file's quirks: fields separated by irregular runs of tabs and spaces, trailing
// tabs, CRLF or LF, Latin-1 bytes. Rows out of time order are sorted and reported; malformed
// lines are reported with their line number (1-based, counting the two header lines) and never
// silently skipped.

import { readFileSync } from 'node:fs';
import { ID_PATTERN, DEVICE_ID_PATTERN, type Kind, type NdjsonReading } from '../devices/index.ts';
import { silentLogger } from '../lib/log.ts';
import { drive, ndjsonSink, MqttSink, type Item, type Sink, type OutputOptions, type Progress } from './output.ts';
import { MINUTE } from './time.ts';

export interface UciEvent {
  line: number;
  start: number;
  end: number;
  location: string;
  type: string;
  place: string;
  dev: string;
  kind: Kind;
}

export interface UciProblem {
  line: number;
  text: string;
  reason: string;
}

export interface UciParse {
  home: string;
  site: string;
  gateway: string;
  events: UciEvent[];
  /** Malformed lines (not replayed). */
  errors: UciProblem[];
  /** Rows that start before the row above them (replayed, in time order). */
  outOfOrder: { line: number; start: string; previousStart: string }[];
  /** The readings, in timestamp order, with per-device seq from 1. */
  readings: NdjsonReading[];
}

export interface UciParseOptions {
  /** Home id (lowercase letters, digits, dashes), e.g. `a`. */
  home: string;
  site?: string;
  gateway?: string;
  /** The log's clock is local time without a zone; its offset from UTC (default 60: Madrid, CET, Nov–Dec). */
  utcOffsetMin?: number;
  /** Shift every timestamp so that the first event starts at this instant (default: keep the original times). */
  from?: number;
}

const FIELD: Record<Kind, string> = {
  bed: 'occupied',
  chair: 'occupied',
  toilet: 'flush',
  door: 'open',
  motion: 'motion',
  appliance: 'on',
} as Record<Kind, string>;

/** Maps a UCI sensor (type, location) to our kind. */
export function uciKind(type: string, location: string): Kind | null {
  switch (type.toLowerCase()) {
    case 'pressure':
      return location.toLowerCase() === 'bed' ? 'bed' : 'chair';
    case 'flush':
      return 'toilet';
    case 'magnetic':
      return 'door'; // doors, cabinets, cupboards, the fridge and the main door are all contacts
    case 'pir':
      return 'motion';
    case 'electric':
      return 'appliance';
    default:
      return null;
  }
}

export function uciDeviceId(home: string, place: string, location: string): string {
  return `${home}-${place}-${location}`.toLowerCase();
}

const STAMP = /^(\d{4})-(\d{2})-(\d{2})$/;
const CLOCK = /^(\d{2}):(\d{2}):(\d{2})$/;

function parseStamp(date: string, time: string, offsetMin: number): number | null {
  const d = STAMP.exec(date);
  const c = CLOCK.exec(time);
  if (!d || !c) return null;
  const [y, mo, da] = [Number(d[1]), Number(d[2]), Number(d[3])];
  const [h, mi, s] = [Number(c[1]), Number(c[2]), Number(c[3])];
  if (mo < 1 || mo > 12 || da < 1 || da > 31 || h > 23 || mi > 59 || s > 59) return null;
  const t = Date.UTC(y, mo - 1, da, h, mi, s);
  if (new Date(t).getUTCDate() !== da) return null;
  return t - offsetMin * MINUTE;
}

export function parseUciSensors(input: string | Buffer, opts: UciParseOptions): UciParse {
  const home = opts.home.toLowerCase();
  if (!ID_PATTERN.test(home)) throw new Error(`home: expected an id matching ${ID_PATTERN}, got '${opts.home}'`);
  const site = opts.site ?? 'uci';
  const gateway = opts.gateway ?? `uci-${home}`;
  for (const [what, v] of [
    ['site', site],
    ['gateway', gateway],
  ] as const)
    if (!ID_PATTERN.test(v)) throw new Error(`${what}: expected an id matching ${ID_PATTERN}, got '${v}'`);
  const offset = opts.utcOffsetMin ?? 60;
  const text = typeof input === 'string' ? input : input.toString('latin1');
  const lines = text.split(/\r?\n/);
  const out: UciParse = { home, site, gateway, events: [], errors: [], outOfOrder: [], readings: [] };
  let previous: { start: number; raw: string } | null = null;
  lines.forEach((raw, i) => {
    const line = i + 1;
    const body = raw.trim();
    if (body === '') return;
    if (i < 2 && (/^start\s*time/i.test(body) || /^[-\s]+$/.test(body))) return; // the two header lines
    const tokens = body.split(/\s+/);
    const bad = (reason: string) => out.errors.push({ line, text: raw, reason });
    if (tokens.length !== 7) {
      bad(`expected 7 fields (start date, start time, end date, end time, location, type, place), got ${tokens.length}`);
      return;
    }
    const [d1, t1, d2, t2, location, type, place] = tokens as [string, string, string, string, string, string, string];
    const start = parseStamp(d1, t1, offset);
    if (start === null) {
      bad(`start: expected 'YYYY-MM-DD HH:MM:SS', got '${d1} ${t1}'`);
      return;
    }
    const end = parseStamp(d2, t2, offset);
    if (end === null) {
      bad(`end: expected 'YYYY-MM-DD HH:MM:SS', got '${d2} ${t2}'`);
      return;
    }
    if (end < start) {
      bad(`end ${d2} ${t2} is before start ${d1} ${t1}`);
      return;
    }
    const kind = uciKind(type, location);
    if (!kind) {
      bad(`type: expected PIR, Magnetic, Flush, Pressure or Electric, got '${type}'`);
      return;
    }
    const dev = uciDeviceId(home, place, location);
    if (!DEVICE_ID_PATTERN.test(dev)) {
      bad(`device id '${dev}' does not match ${DEVICE_ID_PATTERN}`);
      return;
    }
    if (previous && start < previous.start) out.outOfOrder.push({ line, start: `${d1} ${t1}`, previousStart: previous.raw });
    previous = { start, raw: `${d1} ${t1}` };
    out.events.push({ line, start, end, location, type, place, dev, kind });
  });
  const first = out.events.reduce((m, e) => Math.min(m, e.start), Infinity);
  const shift = opts.from !== undefined && Number.isFinite(first) ? opts.from - first : 0;
  type Edge = { ts: number; order: number; e: UciEvent; on: boolean };
  const edges: Edge[] = [];
  out.events.forEach((e, k) => {
    edges.push({ ts: e.start + shift, order: 2 * k, e, on: true }, { ts: e.end + shift, order: 2 * k + 1, e, on: false });
  });
  // Time order; at equal times, file order (so a zero-length event is on, then off).
  edges.sort((a, b) => a.ts - b.ts || a.order - b.order);
  const seqs = new Map<string, number>();
  for (const { ts, e, on } of edges) {
    const seq = (seqs.get(e.dev) ?? 0) + 1;
    seqs.set(e.dev, seq);
    out.readings.push({ site, gw: gateway, home, dev: e.dev, kind: e.kind, seq, ts, v: { [FIELD[e.kind]]: on } });
  }
  return out;
}

export interface ReplayUciOptions extends UciParseOptions, OutputOptions {
  /** Path of OrdonezA_Sensors.txt or OrdonezB_Sensors.txt (or any file in that format). */
  file: string;
}

/** Replays a UCI ADL sensor file. Malformed lines and out-of-order rows are in `parse`. */
export async function replayUci(opts: ReplayUciOptions): Promise<Progress & { aborted: boolean; parse: UciParse }> {
  const parse = parseUciSensors(readFileSync(opts.file), opts);
  const log = opts.log ?? silentLogger;
  for (const e of parse.errors) log.warn({ file: opts.file, line: e.line, reason: e.reason }, 'replay: malformed line');
  if (parse.outOfOrder.length)
    log.warn({ file: opts.file, lines: parse.outOfOrder.map((o) => o.line) }, 'replay: rows out of time order (replayed in time order)');
  let sink: Sink;
  if (opts.out !== undefined) sink = ndjsonSink(opts.out);
  else {
    if (!opts.url || !opts.credentials) throw new Error('replay: give an NDJSON output, or a broker url and a credentials callback');
    const mqtt = new MqttSink({ url: opts.url, credentials: opts.credentials, log });
    await mqtt.open([{ site: parse.site, gw: parse.gateway }]);
    sink = mqtt;
  }
  function* items(): Generator<Item> {
    for (const r of parse.readings) yield { type: 'reading', at: r.ts, reading: r };
  }
  const simStart = parse.readings[0]?.ts ?? 0;
  const result = await drive(items(), sink, {
    speed: opts.speed ?? 'max',
    simStart,
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
  });
  return { ...result, parse };
}
