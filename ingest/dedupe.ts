// Which readings the store has CONFIRMED, in bounded memory: per device the highest confirmed
// seq and, for the `window` seqs below it, the low 32 bits of each one's timestamp. A reading is
// a duplicate only when both its seq and its timestamp match: a gateway whose outbox was wiped
// (a new SD card) or a simulator started again counts seq from 1 once more, and those readings
// are new, not resends — matching on seq alone dropped them. A seq older than the window is
// "unknown" and simply written again — harmless, because writes are idempotent (the same reading
// is the same point / the same row). Nothing here is persisted: after a restart every resend is
// rewritten once, then known again. For the same reason forgetting a device (forget(), called
// when GatewayDevices lets it go) is harmless: its next resend is rewritten once.

export class SeqWindow {
  readonly window: number;
  #devices = new Map<string, { high: number; ts: Uint32Array }>();

  /** `window`: seqs remembered below the highest (4 bytes each per device). */
  constructor(window = 1024) {
    this.window = Math.max(32, Math.ceil(window));
  }

  /** True when this device's reading (seq and timestamp) is known to be confirmed by the store. */
  has(device: string, seq: number, ts: number): boolean {
    const d = this.#devices.get(device);
    if (!d || seq > d.high || seq <= d.high - this.window) return false;
    return d.ts[seq % this.window] === tag(ts);
  }

  markConfirmed(device: string, seq: number, ts: number): void {
    let d = this.#devices.get(device);
    if (!d) {
      d = { high: seq, ts: new Uint32Array(this.window) };
      this.#devices.set(device, d);
    } else if (seq > d.high) {
      // Slide the window: forget the slots of the seqs we skip over (high+1 … seq).
      if (seq - d.high >= this.window) d.ts.fill(0);
      else for (let s = d.high + 1; s <= seq; s++) d.ts[s % this.window] = 0;
      d.high = seq;
    } else if (seq <= d.high - this.window) {
      return; // too old to remember; a resend of it is rewritten, which is harmless
    }
    d.ts[seq % this.window] = tag(ts);
  }

  forget(device: string): void {
    this.#devices.delete(device);
  }

  get devices(): number {
    return this.#devices.size;
  }
}

/** The timestamp's low 32 bits, never 0 (0 marks an empty slot). */
function tag(ts: number): number {
  return (ts % 0xffff_ffff) + 1;
}

/**
 * The distinct devices each gateway reported recently: at most `max` per gateway, each forgotten
 * `ttlMs` after it was last heard. This is the quota on distinct devices (a gateway inventing a new
 * id per reading gets its new ids quarantined once `max` are live, instead of every id being
 * tracked, deduped and written as a new InfluxDB series forever) and the bound on ingest's
 * per-device memory: a device let go here is also forgotten by the SeqWindow (`onForget`).
 */
export class GatewayDevices {
  readonly max: number;
  readonly ttlMs: number;
  /** Per gateway: device → last heard (ms), in least-recently-heard order (a Map re-inserted on touch). */
  #gateways = new Map<string, Map<string, number>>();
  #onForget: (gateway: string, device: string) => void;

  constructor(max: number, ttlMs: number, onForget: (gateway: string, device: string) => void = () => undefined) {
    this.max = Math.max(1, Math.floor(max));
    this.ttlMs = ttlMs;
    this.#onForget = onForget;
  }

  /** True when `device` may be tracked for `gateway` (already known, or a free slot); false: over the quota. */
  admit(gateway: string, device: string, now: number): boolean {
    let devices = this.#gateways.get(gateway);
    if (!devices) {
      devices = new Map();
      this.#gateways.set(gateway, devices);
    }
    if (devices.has(device)) {
      devices.delete(device);
      devices.set(device, now);
      return true;
    }
    this.#expire(gateway, devices, now);
    if (devices.size >= this.max) return false;
    devices.set(device, now);
    return true;
  }

  /** Forgets every device not heard for ttlMs (and gateways with none left). */
  sweep(now: number): void {
    for (const [gateway, devices] of this.#gateways) {
      this.#expire(gateway, devices, now);
      if (devices.size === 0) this.#gateways.delete(gateway);
    }
  }

  #expire(gateway: string, devices: Map<string, number>, now: number): void {
    // Oldest first (insertion order is last-heard order), so stop at the first one still fresh.
    for (const [device, at] of devices) {
      if (now - at < this.ttlMs) break;
      devices.delete(device);
      this.#onForget(gateway, device);
    }
  }

  /** Devices remembered across all gateways. */
  get size(): number {
    let n = 0;
    for (const d of this.#gateways.values()) n += d.size;
    return n;
  }
}
