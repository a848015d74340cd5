// Which readings the store has CONFIRMED, in bounded memory: per device the highest confirmed
// seq and, for the `window` seqs below it, the low 32 bits of each one's timestamp. A reading is
// a duplicate only when both its seq and its timestamp match: a gateway whose outbox was wiped
// (a new SD card) or a simulator started again counts seq from 1 once more, and those readings
// are new, not resends — matching on seq alone dropped them. A seq older than the window is
// "unknown" and simply written again — harmless, because writes are idempotent (the same reading
// is the same point / the same row). Nothing here is persisted: after a restart every resend is
// rewritten once, then known again.

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

  get devices(): number {
    return this.#devices.size;
  }
}

/** The timestamp's low 32 bits, never 0 (0 marks an empty slot). */
function tag(ts: number): number {
  return (ts % 0xffff_ffff) + 1;
}
