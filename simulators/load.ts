// Load: thousands of virtual gateways in one process, each speaking the real contract (its own
// MemoryOutbox and Uplink, its own credentials), producing an aggregate R readings/s. Reports
// per second how many readings were sent (accepted into outboxes) and acked by the centre, and
// the lag (age of the oldest reading still waiting in any outbox).

import type { Kind, Reading } from '../devices/index.ts';
import { MemoryOutbox, Uplink } from '../gateway/index.ts';
import { silentLogger, type Logger } from '../lib/log.ts';
import { Rng } from './prng.ts';
import type { Credentials } from './output.ts';
import { sleep } from '../lib/timeout.ts';

export interface LoadOptions {
  url: string;
  /** Virtual gateways (one home each). */
  homes: number;
  /** Aggregate readings per second over all homes. */
  rate: number;
  durationS: number;
  /** Provisions each gateway; omitted: connect without credentials (a broker allowing anonymous). */
  credentials?: Credentials;
  /** Site ids are `<site>-<n>`, `homesPerSite` homes each (default `load`, 500). */
  site?: string;
  homesPerSite?: number;
  devicesPerHome?: number;
  /** Gateways started per second (the broker may rate-limit connects per address). Default 200. */
  connectPerSecond?: number;
  /** Connect every gateway before producing (so that lag measures the steady state). Default true. */
  connectFirst?: boolean;
  /** After producing, wait this long for the outboxes to drain. Default 60 s. */
  drainTimeoutS?: number;
  seed?: string | number;
  log?: Logger;
  signal?: AbortSignal;
  onProgress?: (s: LoadSecond) => void;
  window?: number;
  maxBatchReadings?: number;
}

export interface LoadSecond {
  /** Seconds since the start. */
  t: number;
  sentPerS: number;
  ackedPerS: number;
  sent: number;
  acked: number;
  /** Readings waiting in outboxes. */
  pending: number;
  /** Age of the oldest waiting reading, ms (0 when none). */
  lagMs: number;
  connected: number;
}

export interface LoadReport {
  homes: number;
  rate: number;
  durationS: number;
  sent: number;
  acked: number;
  /** Mean readings/s sent during the production phase and acked over the whole run. */
  sentPerS: number;
  ackedPerS: number;
  lagMs: { mean: number; max: number; final: number };
  /** Seconds to start and connect every gateway (connectFirst), and how many were connected then. */
  connectS: number | null;
  connected: number;
  /** Seconds from the end of production until every outbox was empty (null: not drained). */
  drainS: number | null;
  seconds: LoadSecond[];
}

const KINDS_CYCLE: Kind[] = ['motion', 'climate', 'door', 'bed', 'hydration'];

function makeReading(kind: Kind, dev: string, rng: Rng, now: number): Omit<Reading, 'seq'> {
  switch (kind) {
    case 'climate':
      return {
        dev,
        kind,
        ts: now,
        v: { temperature_c: Math.round(rng.uniform(19, 24) * 10) / 10, humidity_pct: Math.round(rng.uniform(25, 45)) },
        q: { battery: 90, lqi: 120 },
      };
    case 'door':
      return { dev, kind, ts: now, v: { open: rng.chance(0.5) }, q: { battery: 90, lqi: 120 } };
    case 'bed':
      return { dev, kind, ts: now, v: { occupied: rng.chance(0.5) }, q: { battery: 90, lqi: 120 } };
    case 'hydration':
      return { dev, kind, ts: now, v: { intake_ml: rng.int(50, 250), level_ml: rng.int(0, 250) }, q: { battery: 90, lqi: 120 } };
    default:
      return { dev, kind: 'motion', ts: now, v: { motion: rng.chance(0.5) }, q: { battery: 90, lqi: 120 } };
  }
}

/** The (site, gateway) ids runLoad uses, so that a caller can provision them beforehand. */
export function loadGatewayIds(homes: number, site = 'load', homesPerSite = 500): { site: string; gateway: string }[] {
  const pad = String(homes).length;
  return Array.from({ length: homes }, (_, i) => ({
    site: `${site}-${Math.floor(i / homesPerSite) + 1}`,
    gateway: `gw-${String(i + 1).padStart(pad, '0')}`,
  }));
}

export async function runLoad(opts: LoadOptions): Promise<LoadReport> {
  const log = opts.log ?? silentLogger;
  const rng = new Rng(`load/${opts.seed ?? 1}`);
  const devCount = opts.devicesPerHome ?? 5;
  const gws = loadGatewayIds(opts.homes, opts.site, opts.homesPerSite).map((id, i) => ({
    ...id,
    outbox: new MemoryOutbox(),
    uplink: undefined as Uplink | undefined,
    devices: Array.from({ length: devCount }, (_, k) => ({ id: `h${i + 1}-d${k}`, kind: KINDS_CYCLE[k % KINDS_CYCLE.length] as Kind })),
  }));

  // Provision (a few at a time: credential stores hash passwords) and start, paced.
  const connectPerSecond = opts.connectPerSecond ?? 200;
  const starting = (async () => {
    for (let i = 0; i < gws.length; i += 8) {
      if (opts.signal?.aborted) return;
      const wave = gws.slice(i, i + 8);
      await Promise.all(
        wave.map(async (g) => {
          const cred = opts.credentials ? await opts.credentials(g.site, g.gateway) : undefined;
          g.uplink = new Uplink({
            url: opts.url,
            site: g.site,
            gateway: g.gateway,
            outbox: g.outbox,
            log,
            ...(cred ? { username: cred.username, password: cred.password } : {}),
            ...(opts.window !== undefined ? { window: opts.window } : {}),
            ...(opts.maxBatchReadings !== undefined ? { maxBatchReadings: opts.maxBatchReadings } : {}),
          });
          await g.uplink.start();
        }),
      );
      await sleep((1000 * wave.length) / connectPerSecond);
    }
  })();

  let connectS: number | null = null;
  if (opts.connectFirst ?? true) {
    const c0 = Date.now();
    await starting;
    const waits = await Promise.allSettled(gws.map((g) => g.uplink!.waitConnected(60_000)));
    connectS = (Date.now() - c0) / 1000;
    const failed = waits.filter((w) => w.status === 'rejected').length;
    if (failed) log.warn({ failed }, 'load: some gateways did not connect within 60 s; producing anyway');
    opts.onProgress?.({ t: 0, sentPerS: 0, ackedPerS: 0, sent: 0, acked: 0, pending: 0, lagMs: 0, connected: gws.length - failed });
  }
  const seconds: LoadSecond[] = [];
  let sent = 0;
  let lastSent = 0;
  let lastAcked = 0;
  const t0 = Date.now();
  const acked = () => gws.reduce((a, g) => a + (g.uplink?.stats().ackedReadings ?? 0), 0);
  const sample = () => {
    const now = Date.now();
    let pending = 0;
    let oldest = Infinity;
    let connected = 0;
    for (const g of gws) {
      const s = g.outbox.stats();
      pending += s.depth;
      if (s.oldestTs !== null && s.oldestTs < oldest) oldest = s.oldestTs;
      if (g.uplink?.stats().connected) connected++;
    }
    const a = acked();
    const prev = seconds[seconds.length - 1];
    const dt = prev ? (now - t0) / 1000 - prev.t : (now - t0) / 1000;
    const s: LoadSecond = {
      t: Math.round((now - t0) / 100) / 10,
      sentPerS: Math.round((sent - lastSent) / Math.max(dt, 0.001)),
      ackedPerS: Math.round((a - lastAcked) / Math.max(dt, 0.001)),
      sent,
      acked: a,
      pending,
      lagMs: oldest === Infinity ? 0 : now - oldest,
      connected,
    };
    lastSent = sent;
    lastAcked = a;
    seconds.push(s);
    opts.onProgress?.(s);
    return s;
  };
  const timer = setInterval(sample, 1000);

  // Production: every 50 ms, the readings due by now, round-robin over homes and devices.
  const tickMs = 50;
  let next = 0;
  const end = t0 + opts.durationS * 1000;
  while (Date.now() < end && !opts.signal?.aborted) {
    const due = Math.floor(((Date.now() - t0) / 1000) * opts.rate);
    const now = Date.now();
    const touched = new Set<(typeof gws)[number]>();
    for (; sent < due; sent++) {
      const g = gws[next % gws.length]!;
      const d = g.devices[Math.floor(next / gws.length) % g.devices.length]!;
      next++;
      g.outbox.accept(makeReading(d.kind, d.id, rng, now));
      touched.add(g);
    }
    for (const g of touched) g.uplink?.kick();
    await sleep(tickMs);
  }
  const producedAt = Date.now();
  await starting;
  let drainS: number | null = null;
  if (!opts.signal?.aborted) {
    const timeout = (opts.drainTimeoutS ?? 60) * 1000;
    const results = await Promise.allSettled(gws.map((g) => g.uplink!.drained(timeout)));
    if (results.every((r) => r.status === 'fulfilled')) drainS = (Date.now() - producedAt) / 1000;
  }
  clearInterval(timer);
  const last = sample();
  await Promise.all(gws.map((g) => g.uplink?.stop()));
  for (const g of gws) g.outbox.close();
  const lags = seconds.map((s) => s.lagMs);
  const prodS = (producedAt - t0) / 1000;
  return {
    homes: opts.homes,
    rate: opts.rate,
    durationS: opts.durationS,
    sent,
    acked: last.acked,
    sentPerS: Math.round(sent / Math.max(prodS, 0.001)),
    ackedPerS: Math.round(last.acked / Math.max((Date.now() - t0) / 1000, 0.001)),
    connectS,
    connected: last.connected,
    lagMs: { mean: Math.round(lags.reduce((a, b) => a + b, 0) / Math.max(1, lags.length)), max: Math.max(0, ...lags), final: last.lagMs },
    drainS,
    seconds,
  };
}
