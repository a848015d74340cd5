// Connection attempts per remote address, over a sliding minute. Guards the broker (and scrypt)
// against a gateway stuck in a tight reconnect loop and against connect floods. Only admitted
// attempts are recorded, so one address holds at most `perMinute` timestamps.

export class ConnectRateLimiter {
  private readonly perMinute: number;
  private readonly windowMs: number;
  private readonly seen = new Map<string, number[]>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(perMinute: number, windowMs = 60_000) {
    this.perMinute = perMinute;
    this.windowMs = windowMs;
    // Forget quiet addresses so the map does not grow with every address ever seen.
    this.sweeper = setInterval(() => this.sweep(Date.now()), windowMs);
    this.sweeper.unref();
  }

  /** Records an attempt; false when the address has used up its allowance for this window. */
  admit(address: string, now = Date.now()): boolean {
    const stamps = (this.seen.get(address) ?? []).filter((t) => now - t < this.windowMs);
    if (stamps.length >= this.perMinute) {
      this.seen.set(address, stamps);
      return false;
    }
    stamps.push(now);
    this.seen.set(address, stamps);
    return true;
  }

  stop(): void {
    clearInterval(this.sweeper);
    this.seen.clear();
  }

  private sweep(now: number): void {
    for (const [address, stamps] of this.seen) {
      if (stamps.every((t) => now - t >= this.windowMs)) this.seen.delete(address);
    }
  }
}
