// Where simulated and replayed readings go: NDJSON (no broker at all) or MQTT through the real
// wire contract (one Uplink + MemoryOutbox per virtual gateway). The driver paces deliveries in
// real time, ×N, or as fast as possible, reports progress, and stops on an AbortSignal.

import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { connect, type MqttClient } from 'mqtt';
import { gatewayClientId, topics, type NdjsonReading, type Reading } from '../devices/index.ts';
import { MemoryOutbox, Uplink } from '../gateway/index.ts';
import { silentLogger, type Logger } from '../lib/log.ts';
import type { Speed } from './scenario.ts';
import { settledWithin, sleep } from '../lib/timeout.ts';

export type Credentials = (site: string, gateway: string) => Promise<{ username: string; password: string }>;

/** What the driver moves: a reading, a malformed payload, or a gateway losing / regaining its link. */
export type Item =
  | { type: 'reading'; at: number; reading: NdjsonReading }
  | { type: 'malformed'; at: number; site: string; gw: string; line: string; reading?: Record<string, unknown> }
  | { type: 'gateway'; at: number; site: string; gw: string; online: boolean };

export interface Progress {
  /** Readings delivered (duplicates included), malformed payloads injected. */
  readings: number;
  malformed: number;
  /** Simulated time reached, epoch ms (NaN before the first item). */
  simTime: number;
  wallMs: number;
  /** Readings per second over the last progress interval (or the whole run, at the end). */
  rate: number;
  /** MQTT only: readings acked by the centre, and readings waiting in the outboxes. */
  acked?: number;
  pending?: number;
}

export interface Sink {
  /** Handles one item; may return a promise to apply back-pressure. */
  put(item: Item): void | Promise<void>;
  /** Flushes; `drain`: wait until everything is delivered (MQTT: acked). */
  close(drain: boolean): Promise<void>;
  extra?(): { acked: number; pending: number };
}

/** Where a simulator's readings go and how fast: shared by scenario runs and replays. */
export interface OutputOptions {
  speed?: Speed;
  /** NDJSON output (file path or stream). Without it, `url` and `credentials` publish over MQTT. */
  out?: string | Writable;
  url?: string;
  credentials?: Credentials;
  log?: Logger;
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
}

export interface DriveOptions {
  speed: Speed;
  /** Simulated time that maps to the wall-clock start (pacing origin). */
  simStart: number;
  /**
   * Wall-clock time that `simStart` maps to; default: when drive() starts. A live pilot with
   * history passes `simStart` itself (speed 1): what is already past is sent at once, the rest
   * as it happens.
   */
  wallOrigin?: number;
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
  progressEveryMs?: number;
}

/** Feeds `items` to `sink` at the pace of `speed`. Resolves with the final progress (aborted or not). */
export async function drive(items: Iterable<Item>, sink: Sink, opts: DriveOptions): Promise<Progress & { aborted: boolean }> {
  const wallStart = Date.now();
  const origin = opts.wallOrigin ?? wallStart;
  const p: Progress = { readings: 0, malformed: 0, simTime: NaN, wallMs: 0, rate: 0 };
  let lastReadings = 0;
  let lastWall = wallStart;
  const snapshot = (final: boolean): Progress => {
    const now = Date.now();
    const interval = final ? now - wallStart : now - lastWall;
    const count = final ? p.readings : p.readings - lastReadings;
    lastWall = now;
    lastReadings = p.readings;
    return {
      ...p,
      wallMs: now - wallStart,
      rate: interval > 0 ? Math.round((count * 1000) / interval) : 0,
      ...(sink.extra ? sink.extra() : {}),
    };
  };
  const timer = opts.onProgress ? setInterval(() => opts.onProgress?.(snapshot(false)), opts.progressEveryMs ?? 1000) : undefined;
  timer?.unref();
  let n = 0;
  let aborted = false;
  try {
    for (const item of items) {
      if (opts.signal?.aborted) {
        aborted = true;
        break;
      }
      if (opts.speed !== 'max') {
        const due = origin + (item.at - opts.simStart) / opts.speed;
        const wait = due - Date.now();
        if (wait > 2) await sleep(wait, opts.signal);
        if (opts.signal?.aborted) {
          aborted = true;
          break;
        }
      } else if (++n % 2000 === 0) await new Promise((r) => setImmediate(r));
      const pending = sink.put(item);
      if (pending) await pending;
      if (item.type === 'reading') p.readings++;
      else if (item.type === 'malformed') p.malformed++;
      p.simTime = item.at;
    }
    await sink.close(!aborted);
  } finally {
    if (timer) clearInterval(timer);
  }
  return { ...snapshot(true), aborted };
}

// ── NDJSON ─────────────────────────────────────────────────────────────────────────────────

/** The NDJSON line of a reading: fixed key order, so equal runs are byte-identical. */
export function ndjsonLine(r: NdjsonReading): string {
  return JSON.stringify({
    site: r.site,
    gw: r.gw,
    home: r.home,
    dev: r.dev,
    kind: r.kind,
    seq: r.seq,
    ts: r.ts,
    v: r.v,
    ...(r.q ? { q: r.q } : {}),
  });
}

/** The wire reading (without site, gw, home). */
export function wireReading(r: NdjsonReading): Reading {
  return { dev: r.dev, kind: r.kind, seq: r.seq, ts: r.ts, v: r.v, ...(r.q ? { q: r.q } : {}) };
}

/** Writes one line per reading (and per malformed payload) to a file path or a stream. */
export function ndjsonSink(out: string | Writable): Sink {
  const stream: Writable = typeof out === 'string' ? createWriteStream(out) : out;
  let buf: string[] = [];
  const flush = async () => {
    if (buf.length === 0) return;
    const chunk = `${buf.join('\n')}\n`;
    buf = [];
    if (!stream.write(chunk)) await once(stream, 'drain');
  };
  return {
    put(item) {
      if (item.type === 'reading') buf.push(ndjsonLine(item.reading));
      else if (item.type === 'malformed') buf.push(item.line);
      if (buf.length >= 512) return flush();
    },
    async close() {
      await flush();
      if (typeof out === 'string') {
        await new Promise<void>((resolve, reject) => (stream as WriteStream).end((err?: Error | null) => (err ? reject(err) : resolve())));
      }
    },
  };
}

// ── MQTT ───────────────────────────────────────────────────────────────────────────────────

/** Batch numbers of injected malformed batches: far above anything an Uplink numbers. */
export const RAW_BATCH_BASE = 2 ** 40;

export interface MqttSinkOptions {
  url: string;
  credentials: Credentials;
  log?: Logger;
  /** Outbox depth (all gateways) above which the driver waits. Default 50,000. */
  maxPending?: number;
  /** How long close(drain) waits for every outbox to be acked. Default 120 s. */
  drainTimeoutMs?: number;
  /** Passed to every Uplink. */
  window?: number;
  maxBatchReadings?: number;
  resendAfterMs?: number;
  reconnectPeriodMs?: number;
}

interface Gateway {
  site: string;
  gw: string;
  username: string;
  password: string;
  outbox: MemoryOutbox;
  uplink: Uplink;
  online: boolean;
  raw?: MqttClient;
  rawBatches: number;
}

/**
 * One virtual gateway per (site, gw): its own credentials, MemoryOutbox and Uplink, exactly as
 * a real gateway speaks the contract. Gateways are opened with `open()` (or lazily on first use).
 */
export class MqttSink implements Sink {
  private readonly opts: MqttSinkOptions;
  private readonly log: Logger;
  private readonly gateways = new Map<string, Gateway>();
  private readonly opening = new Map<string, Promise<Gateway>>();

  constructor(opts: MqttSinkOptions) {
    this.opts = opts;
    this.log = opts.log ?? silentLogger;
  }

  /** Provisions and connects the gateways up front; resolves when all are connected (or after timeoutMs, with a warning). */
  async open(list: { site: string; gw: string }[], timeoutMs = 30_000): Promise<void> {
    const gws = await Promise.all(list.map((g) => this.gateway(g.site, g.gw)));
    const waits = await Promise.allSettled(gws.map((g) => g.uplink.waitConnected(timeoutMs)));
    const failed = waits.filter((w) => w.status === 'rejected').length;
    if (failed)
      this.log.warn(
        { failed, of: gws.length, url: this.opts.url },
        'sim: some virtual gateways are not connected yet; their readings wait in their outboxes',
      );
  }

  private gateway(site: string, gw: string): Promise<Gateway> {
    const key = `${site}/${gw}`;
    const have = this.gateways.get(key);
    if (have) return Promise.resolve(have);
    let p = this.opening.get(key);
    if (!p) {
      p = (async () => {
        const { username, password } = await this.opts.credentials(site, gw);
        const outbox = new MemoryOutbox();
        const uplink = this.makeUplink(site, gw, username, password, outbox);
        await uplink.start();
        const g: Gateway = { site, gw, username, password, outbox, uplink, online: true, rawBatches: 0 };
        this.gateways.set(key, g);
        return g;
      })();
      this.opening.set(key, p);
    }
    return p;
  }

  private makeUplink(site: string, gateway: string, username: string, password: string, outbox: MemoryOutbox): Uplink {
    const o = this.opts;
    return new Uplink({
      url: o.url,
      username,
      password,
      site,
      gateway,
      outbox,
      log: this.log,
      ...(o.window !== undefined ? { window: o.window } : {}),
      ...(o.maxBatchReadings !== undefined ? { maxBatchReadings: o.maxBatchReadings } : {}),
      ...(o.resendAfterMs !== undefined ? { resendAfterMs: o.resendAfterMs } : {}),
      ...(o.reconnectPeriodMs !== undefined ? { reconnectPeriodMs: o.reconnectPeriodMs } : {}),
    });
  }

  put(item: Item): void | Promise<void> {
    const site = item.type === 'reading' ? item.reading.site : item.site;
    const gw = item.type === 'reading' ? item.reading.gw : item.gw;
    const have = this.gateways.get(`${site}/${gw}`);
    if (have) return this.apply(have, item);
    return this.gateway(site, gw).then((g) => this.apply(g, item));
  }

  private apply(g: Gateway, item: Item): void | Promise<void> {
    if (item.type === 'reading') {
      g.outbox.addSequenced([wireReading(item.reading)]);
      if (g.online) g.uplink.kick();
      return this.backpressure();
    }
    if (item.type === 'gateway') {
      if (item.online === g.online) return;
      g.online = item.online;
      if (!item.online) return g.uplink.stop();
      return g.uplink.start().then(() => g.uplink.kick());
    }
    return this.publishRaw(g, item);
  }

  private async publishRaw(g: Gateway, item: Extract<Item, { type: 'malformed' }>): Promise<void> {
    if (!g.raw) {
      g.raw = connect(this.opts.url, {
        clientId: `${gatewayClientId({ site: g.site, gateway: g.gw })}.raw`,
        username: g.username,
        password: g.password,
        protocolVersion: 4,
        clean: true,
        reconnectPeriod: 2000,
      });
      g.raw.on('error', (err) => this.log.debug({ err: err.message }, 'sim: raw publisher error'));
    }
    const payload =
      item.reading === undefined
        ? item.line
        : JSON.stringify({ gw: g.gw, batch: RAW_BATCH_BASE + g.rawBatches++, sent: Date.now(), readings: [item.reading] });
    // QoS 1 so that it reaches ingest even when sent before the connection is up.
    g.raw.publish(topics.up(g.site, g.gw), payload, { qos: 1 }, () => undefined);
  }

  private async backpressure(): Promise<void> {
    const max = this.opts.maxPending ?? 50_000;
    let waited = 0;
    while (this.pending() > max) {
      await sleep(20);
      waited += 20;
      if (waited % 10_000 === 0) this.log.warn({ pending: this.pending() }, 'sim: outboxes are not draining (is ingest acking?)');
    }
  }

  pending(): number {
    let n = 0;
    for (const g of this.gateways.values()) n += g.outbox.stats().depth;
    return n;
  }

  extra(): { acked: number; pending: number } {
    let acked = 0;
    for (const g of this.gateways.values()) acked += g.uplink.stats().ackedReadings;
    return { acked, pending: this.pending() };
  }

  /** Stats per gateway (for tests and reports). */
  stats(): { site: string; gw: string; depth: number; acked: number; connected: boolean }[] {
    return [...this.gateways.values()].map((g) => ({
      site: g.site,
      gw: g.gw,
      depth: g.outbox.stats().depth,
      acked: g.uplink.stats().ackedReadings,
      connected: g.uplink.stats().connected,
    }));
  }

  async close(drain: boolean): Promise<void> {
    const gws = [...this.gateways.values()];
    if (drain) {
      for (const g of gws) {
        if (!g.online) {
          g.online = true;
          await g.uplink.start();
        }
        g.uplink.kick();
      }
      const timeout = this.opts.drainTimeoutMs ?? 120_000;
      const results = await Promise.allSettled(gws.map((g) => g.uplink.drained(timeout)));
      const failed = results.filter((r) => r.status === 'rejected');
      if (failed.length)
        this.log.warn({ gateways: failed.length, pending: this.pending() }, 'sim: not every outbox drained before the timeout');
    }
    await Promise.all(
      gws.map(async (g) => {
        await g.uplink.stop();
        if (g.raw) {
          // Malformed payloads are part of the run: give them time to reach the broker.
          const raw = g.raw;
          const deadline = Date.now() + (drain ? 15_000 : 1000);
          const unsent = () => (raw.connected ? 0 : 1) + Object.keys(raw.outgoing).length + raw.queue.length;
          while (unsent() > 0 && Date.now() < deadline) await sleep(20);
          if (unsent() > 0) this.log.warn({ site: g.site, gateway: g.gw }, 'sim: malformed payloads not delivered before close');
          await settledWithin(raw.endAsync(false), 2000);
          raw.end(true);
        }
        g.outbox.close();
      }),
    );
  }
}
