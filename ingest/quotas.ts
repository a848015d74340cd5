// Ingest's quotas per gateway (issue 11; docs/security.md), in bounded memory.
//
//   readings per second  a token bucket per site/gateway (`maxReadingsPerS`, a burst of
//                        RATE_BURST_S seconds). A message over it is dropped UNACKED, like
//                        backpressure: the gateway keeps the batch in its outbox and resends it
//                        later, so a chatty gateway slows down and loses nothing. Dead-lettering it
//                        instead would let one gateway fill the dead letters; refusing it with an
//                        ack would make the gateway delete readings that were never stored.
//   distinct devices     GatewayDevices: at most `maxDevicesPerGateway` ids heard within
//                        `deviceMemoryMs`; a new id beyond that is quarantined (dead letter
//                        `device_quota`, acked as rejected). This bounds the dedupe memory and the
//                        InfluxDB series (tag cardinality) one gateway can create per memory period.
//   identity             the enrich hook returns a Quarantine for a device the registry does not
//                        let this gateway report (registry/attribution.ts): dead letter
//                        `unknown_device` / `foreign_device`, acked as rejected, never stored,
//                        deduped or counted against the device quota.

import type { Logger } from '../lib/log.ts';

/** A reading the enrich hook refuses: kept as a dead letter of this class, with the reason; never stored. */
export class Quarantine {
  readonly class: 'unknown_device' | 'foreign_device';
  readonly reason: string;
  constructor(cls: 'unknown_device' | 'foreign_device', reason: string) {
    this.class = cls;
    this.reason = reason;
  }
}

/** Per-gateway limits (lib/settings.ts documents each setting). Omitted: unlimited, as before. */
export interface IngestQuotas {
  /** Readings per second per site/gateway; 0: no limit. */
  maxReadingsPerS?: number | undefined;
  /** Distinct device ids remembered per gateway. */
  maxDevicesPerGateway?: number | undefined;
  /** How long a device id is remembered after it was last heard, ms. */
  deviceMemoryMs?: number | undefined;
}

/** The bucket holds this many seconds of a gateway's rate: a backlog after an outage drains at full speed. */
export const RATE_BURST_S = 10;

/** A token bucket per site/gateway, `rate` readings per second with RATE_BURST_S seconds of burst. */
export class RateLimiter {
  readonly rate: number;
  #buckets = new Map<string, { tokens: number; at: number }>();

  /** `rate` 0: no limit. */
  constructor(rate: number) {
    this.rate = rate;
  }

  /** Takes `n` readings from the gateway's bucket; false when it is over its rate (nothing taken). */
  take(gateway: string, n: number, now: number): boolean {
    if (this.rate <= 0) return true;
    const capacity = this.rate * RATE_BURST_S;
    let b = this.#buckets.get(gateway);
    if (!b) {
      b = { tokens: capacity, at: now };
      this.#buckets.set(gateway, b);
    }
    b.tokens = Math.min(capacity, b.tokens + (Math.max(0, now - b.at) / 1000) * this.rate);
    b.at = now;
    // A batch bigger than the whole bucket passes when the bucket is full, else it could never pass.
    const cost = Math.min(n, capacity);
    if (b.tokens < cost) return false;
    b.tokens -= cost;
    return true;
  }

  /** A bucket idle for a whole burst is full again, the same as none: forgotten, so memory follows active gateways. */
  sweep(now: number): void {
    for (const [k, b] of this.#buckets) if (now - b.at > RATE_BURST_S * 1000) this.#buckets.delete(k);
  }
}

/**
 * Dead letters are logged at warn, but at most `burst` per key (gateway) per window; the rest
 * are summed up in one line when the next window opens. The counter counts them all.
 */
export class LogLimiter {
  #windowMs: number;
  #burst: number;
  #keys = new Map<string, { start: number; logged: number; suppressed: number }>();

  constructor(windowMs: number, burst: number) {
    this.#windowMs = windowMs;
    this.#burst = burst;
  }

  hit(key: string, log: Logger, fields: Record<string, unknown>, now = Date.now()): void {
    let k = this.#keys.get(key);
    if (!k || now - k.start >= this.#windowMs) {
      if (k && k.suppressed > 0)
        log.warn({ key, suppressed: k.suppressed, windowS: this.#windowMs / 1000 }, 'more dead letters were not logged (rate limit)');
      k = { start: now, logged: 0, suppressed: 0 };
      this.#keys.set(key, k);
      if (this.#keys.size > 10_000) this.#keys.delete(this.#keys.keys().next().value!);
    }
    if (k.logged < this.#burst) {
      k.logged++;
      log.warn(fields, 'dead letter');
    } else {
      k.suppressed++;
    }
  }
}
