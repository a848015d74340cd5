// The simulation engine: builds every home of a scenario (resident, devices, gateway), plans
// the residents' days, collects the readings their devices make, gives them per-device
// sequence numbers as a gateway would, applies the delivery faults, and yields what the
// gateways deliver, in delivery order, merged across homes. Pure and synchronous: the same
// scenario and seed give the same deliveries. Output sinks (output.ts) write or publish them.

import { KINDS, type NdjsonReading, type Value } from '../devices/index.ts';
import { Rng } from './prng.ts';
import { MinHeap } from './heap.ts';
import { planDay, localDay } from './routine.ts';
import { SimDevice, type DeviceFaults, type RawReading } from './devices.ts';
import { resolveAt, type FaultSpec, type HomeSpec, type Scenario, type SiteSpec } from './scenario.ts';
import { SECOND, MINUTE, DAY } from './time.ts';

export type MalformedVariant = 'not-json' | 'bad-value' | 'unknown-kind' | 'bad-ts' | 'missing-field';
export const MALFORMED_VARIANTS: readonly MalformedVariant[] = ['not-json', 'bad-value', 'unknown-kind', 'bad-ts', 'missing-field'];

export type Delivery =
  /** A reading the gateway delivers at `at` (sim time; `reading.ts` is when it was measured). */
  | { type: 'reading'; at: number; home: HomeSpec; reading: NdjsonReading }
  /**
   * An injected malformed payload. `line` is the NDJSON line; for MQTT, `reading` is the bad
   * reading to wrap in a batch, or undefined when the payload is `line` itself (not JSON).
   */
  | { type: 'malformed'; at: number; home: HomeSpec; variant: MalformedVariant; line: string; reading?: Record<string, unknown> }
  /** A gateway loses (`online: false`) or regains its uplink. */
  | { type: 'gateway'; at: number; home: HomeSpec; online: boolean };

export interface SimulateOptions {
  scenario: Scenario;
  /** Overrides the scenario's seed. */
  seed?: string | number;
  /** Start, epoch ms. Default: the scenario's start, else today 00:00 UTC. */
  from?: number;
  /** How long, in days; null: unbounded. Default: the scenario's, else 1. */
  days?: number | null;
}

export interface SimulationInfo {
  from: number;
  end: number;
  seed: string;
  homes: HomeSpec[];
}

export function simulationInfo(opts: SimulateOptions): SimulationInfo {
  const sc = opts.scenario;
  const from = opts.from ?? sc.start ?? Math.floor(Date.now() / DAY) * DAY;
  const days = opts.days === undefined ? (sc.days ?? 1) : opts.days;
  return {
    from,
    end: days === null ? Infinity : from + Math.round(days * DAY),
    seed: String(opts.seed ?? sc.seed),
    homes: sc.sites.flatMap((s) => s.homes),
  };
}

/** Every delivery of the run, in delivery order (ties: home order of the scenario). */
export function* simulate(opts: SimulateOptions): Generator<Delivery> {
  const info = simulationInfo(opts);
  const root = new Rng(`testbed-sim/${info.seed}`);
  const homes = opts.scenario.sites.flatMap((site) =>
    site.homes.map((h) => new HomeSim(site, h, root, info.from, info.end, opts.scenario.faults)),
  );
  type Entry = { sim: HomeSim; index: number; next: Delivery };
  const heap = new MinHeap<Entry>((a, b) => a.next.at < b.next.at || (a.next.at === b.next.at && a.index < b.index));
  homes.forEach((sim, index) => {
    const next = sim.next();
    if (next) heap.push({ sim, index, next });
  });
  for (;;) {
    const top = heap.pop();
    if (!top) return;
    yield top.next;
    const next = top.sim.next();
    if (next) heap.push({ sim: top.sim, index: top.index, next });
  }
}

type Pending = { at: number; n: number; d: Delivery };

class HomeSim {
  private readonly home: HomeSpec;
  private readonly site: SiteSpec;
  private readonly rng: Rng;
  private readonly faultRng: Rng;
  private readonly from: number;
  private readonly end: number;
  private readonly devices: SimDevice[];
  private readonly faults: (FaultSpec & { a: number; b: number })[];
  private readonly queue = new MinHeap<Pending>((x, y) => x.at < y.at || (x.at === y.at && x.n < y.n));
  private readonly seqs = new Map<string, number>();
  private counter = 0;
  private day: number;
  private horizon: number;
  private malformed: { t: number; variant: MalformedVariant }[] = [];

  constructor(site: SiteSpec, home: HomeSpec, root: Rng, from: number, end: number, all: FaultSpec[]) {
    this.site = site;
    this.home = home;
    this.from = from;
    this.end = end;
    this.rng = root.fork(`${site.id}/${home.id}`);
    this.faultRng = this.rng.fork('faults');
    this.faults = all
      .filter((f) => f.site === site.id && f.home === home.id)
      .map((f) => {
        const a = resolveAt(f.at, from);
        return { ...f, a, b: f.durationMs === undefined ? Infinity : a + f.durationMs };
      });
    // Start a day early so that at `from` the resident is wherever the routine puts them.
    this.day = localDay(from, site.utcOffsetMin) - 1;
    this.horizon = -Infinity;
    const warm = from - DAY;
    this.devices = home.devices.map((spec) => {
      const df: DeviceFaults = { silent: [], stuck: [] };
      for (const f of this.faults) {
        if (f.device !== spec.id) continue;
        if (f.type === 'device-silent') df.silent.push([f.a, f.b]);
        if (f.type === 'stuck') df.stuck.push([f.a, f.b]);
        if (f.type === 'battery-death') df.diesAt = f.a;
      }
      return new SimDevice(spec, this.rng.fork(`dev/${spec.id}`), warm, site.utcOffsetMin, home.profile.roomTempC, df);
    });
    for (const f of this.faults) {
      if (f.type === 'gateway-offline') {
        this.enqueue(f.a, { type: 'gateway', at: f.a, home, online: false });
        if (f.b !== Infinity) this.enqueue(f.b, { type: 'gateway', at: f.b, home, online: true });
      }
      if (f.type === 'malformed') {
        const r = this.faultRng.fork(`malformed-${f.a}`);
        const span = Math.min(f.b, end) - f.a;
        for (let i = 0; i < (f.count ?? 5); i++) {
          this.malformed.push({
            t: Math.round(f.a + r.uniform(0, Math.max(0, span))),
            variant: MALFORMED_VARIANTS[i % MALFORMED_VARIANTS.length] as MalformedVariant,
          });
        }
      }
    }
    this.malformed.sort((x, y) => x.t - y.t);
  }

  private enqueue(at: number, d: Delivery): void {
    d.at = at;
    this.queue.push({ at, n: this.counter++, d });
  }

  next(): Delivery | undefined {
    for (;;) {
      const top = this.queue.peek();
      if (top && top.at < this.horizon) return this.queue.pop()?.d;
      if (this.horizon >= this.end) {
        // The run is over: what the gateways still hold is delivered at the end; link changes
        // scheduled after the end are dropped (close() brings every gateway back online).
        const d = this.queue.pop()?.d;
        if (d?.type === 'gateway' && d.at > this.end) continue;
        return d;
      }
      this.chunk();
    }
  }

  /** Plans one more day and queues what the gateway delivers up to its end. */
  private chunk(): void {
    const plan = planDay(this.rng, this.home.profile, this.day++, this.site.utcOffsetMin);
    const until = Math.min(plan.end, this.end);
    const raw: RawReading[] = [];
    for (const d of this.devices) {
      d.plan(plan);
      d.drain(until, raw);
    }
    // Stable: ties keep device order.
    raw.sort((a, b) => a.ts - b.ts);
    const made: NdjsonReading[] = [];
    for (const r of raw) {
      if (r.ts < this.from) continue;
      // Per device, from 1, as the gateway outbox numbers them.
      const seq = (this.seqs.get(r.dev) ?? 0) + 1;
      this.seqs.set(r.dev, seq);
      const reading: NdjsonReading = {
        site: this.site.id,
        gw: this.home.gateway,
        home: this.home.id,
        dev: r.dev,
        kind: r.kind,
        seq,
        ts: r.ts,
        v: r.v,
        ...(Object.keys(r.q).length ? { q: r.q } : {}),
      };
      made.push(reading);
      this.deliver(reading);
    }
    while (this.malformed.length && (this.malformed[0] as { t: number }).t < until) {
      const m = this.malformed.shift() as { t: number; variant: MalformedVariant };
      const near = made.find((r) => r.ts >= m.t) ?? made[made.length - 1];
      if (near) this.enqueue(m.t, this.malform(near, m.variant));
    }
    this.horizon = until;
  }

  private deliver(reading: NdjsonReading): void {
    const measured = reading.ts;
    let at = measured;
    for (const f of this.faults) {
      if (measured < f.a || measured >= f.b) continue;
      if (f.type === 'clock-skew') reading.ts = measured + (f.offsetMs ?? 0);
    }
    for (const f of this.faults) {
      if (measured < f.a || measured >= f.b) continue;
      if (f.type === 'out-of-order') at += Math.round(this.faultRng.uniform(0, f.maxDelayMs ?? 10 * MINUTE));
    }
    for (const f of this.faults) {
      if (f.type === 'gateway-offline' && at >= f.a && at < f.b) at = Math.min(f.b, this.end);
    }
    this.enqueue(at, { type: 'reading', at, home: this.home, reading });
    for (const f of this.faults) {
      if (f.type !== 'duplicates' || measured < f.a || measured >= f.b) continue;
      if (this.faultRng.chance(f.probability ?? 0.3)) {
        const again = at + Math.round(this.faultRng.uniform(1, 60) * SECOND);
        this.enqueue(again, { type: 'reading', at: again, home: this.home, reading: { ...reading } });
      }
    }
  }

  private malform(r: NdjsonReading, variant: MalformedVariant): Delivery {
    const bad: Record<string, unknown> = {
      site: r.site,
      gw: r.gw,
      home: r.home,
      dev: r.dev,
      kind: r.kind,
      seq: r.seq,
      ts: r.ts,
      v: { ...r.v },
      ...(r.q ? { q: r.q } : {}),
    };
    const v = bad.v as Record<string, Value | unknown>;
    switch (variant) {
      case 'not-json': {
        const full = JSON.stringify(bad);
        const line = full.slice(0, Math.floor(full.length / 2));
        return { type: 'malformed', at: 0, home: this.home, variant, line };
      }
      case 'bad-value': {
        const [name, value] = Object.entries(r.v)[0] as [string, Value];
        v[name] = typeof value === 'boolean' ? 'maybe' : typeof value === 'number' ? -999 : 'bogus';
        break;
      }
      case 'unknown-kind':
        bad.kind = 'teleporter';
        break;
      case 'bad-ts':
        bad.ts = 0;
        break;
      case 'missing-field':
        for (const [name, spec] of Object.entries(KINDS[r.kind].fields)) if ((spec as { required?: boolean }).required) delete v[name];
        break;
    }
    const { site: _s, gw: _g, home: _h, ...reading } = bad;
    return { type: 'malformed', at: 0, home: this.home, variant, line: JSON.stringify(bad), reading };
  }
}
