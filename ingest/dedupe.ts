// Which (device, seq) the store has CONFIRMED, in bounded memory: per device the highest
// confirmed seq and a bitmap of the `window` seqs below it. A seq older than the window is
// "unknown" and simply written again — harmless, because writes are idempotent (the same
// reading is the same point / the same row). Nothing here is persisted: after a restart every
// resend is rewritten once, then known again.

export class SeqWindow {
  readonly window: number;
  #devices = new Map<string, { high: number; bits: Uint32Array }>();

  /** `window`: seqs remembered below the highest, rounded up to a multiple of 32. */
  constructor(window = 4096) {
    this.window = Math.max(32, Math.ceil(window / 32) * 32);
  }

  /** True when this device's seq is known to be confirmed by the store. */
  has(device: string, seq: number): boolean {
    const d = this.#devices.get(device);
    if (!d || seq > d.high || seq <= d.high - this.window) return false;
    const bit = seq % this.window;
    return (d.bits[bit >>> 5]! & (1 << (bit & 31))) !== 0;
  }

  markConfirmed(device: string, seq: number): void {
    let d = this.#devices.get(device);
    if (!d) {
      d = { high: seq, bits: new Uint32Array(this.window / 32) };
      this.#devices.set(device, d);
    } else if (seq > d.high) {
      // Slide the window: clear the bits of the seqs we skip over (high+1 … seq).
      if (seq - d.high >= this.window) d.bits.fill(0);
      else for (let s = d.high + 1; s <= seq; s++) this.#clear(d.bits, s % this.window);
      d.high = seq;
    } else if (seq <= d.high - this.window) {
      return; // too old to remember; a resend of it is rewritten, which is harmless
    }
    const bit = seq % this.window;
    d.bits[bit >>> 5]! |= 1 << (bit & 31);
  }

  #clear(bits: Uint32Array, bit: number): void {
    bits[bit >>> 5]! &= ~(1 << (bit & 31));
  }

  get devices(): number {
    return this.#devices.size;
  }
}
