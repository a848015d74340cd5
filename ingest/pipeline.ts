// The ingest pipeline: an `up` message in, readings to the store, dead letters for what is
// refused, and one ack per batch once everything in it is durable.
//
//   accept(topic, payload)          called from the MQTT client callback: only queues, never I/O
//     └▶ process (next tick)        parseTopic → checkBatch → dead letters (one transaction per tick)
//          ├ batch refused          → dead letter with the raw payload; ack {rejected: all} if its number is known
//          └ readings               → rejected ones: a dead letter each
//                                   → confirmed before (SeqWindow)      : duplicate, nothing written
//                                   → already on its way to the store   : waits for that write (then a duplicate)
//                                   → new                               : coalesced into a store write
//     └▶ flush (size or linger)     store.write(points) resolves once they are confirmed
//     └▶ ack {batch, stored, duplicates, rejected} when every reading of the batch is settled
//        AND the batch's dead letters are committed. Never before: the gateway deletes what is acked.
//
// When the store fails (closed, disk error), the batches involved are simply not acked: the
// gateway resends them, and since writes are idempotent a resend can never duplicate a reading.
//
// Quotas per gateway and identity binding (issue 11): see quotas.ts. Checked in this order per
// message: a resend still pending, the rate, the batch's validity; per reading: identity (enrich),
// the distinct-device quota, then dedupe.

import { checkBatch, parseTopic, type Ack, type Reading } from '../devices/index.ts';
import type { Logger } from '../lib/log.ts';
import { rawPayload, readingText, type DeadLetterInput } from './dead-letters.ts';
import { GatewayDevices, SeqWindow } from './dedupe.ts';
import { LogLimiter, Quarantine, RateLimiter } from './quotas.ts';
import type { PipelineOptions, PipelineStats } from './pipeline-options.ts';

export { LogLimiter };
export type { Enrich, PipelineOptions, PipelineStats } from './pipeline-options.ts';
import { ingestMetrics } from './metrics.ts';
import type { StorePoint } from './types.ts';
import { settledWithin } from '../lib/timeout.ts';

interface Tracker {
  key: string;
  site: string;
  gateway: string;
  batch: number;
  stored: number;
  duplicates: number;
  rejected: number;
  outstanding: number;
  deadLettersDone: boolean;
  failed: boolean;
}

interface Pending {
  owner: Tracker;
  /** Batches (resends) whose copy of this reading waits on the owner's write. */
  waiters: Tracker[];
}

interface Queued {
  topic: string;
  payload: Buffer;
  receivedAt: number;
}

const MESSAGES_PER_TICK = 200;

export class Pipeline {
  #o: PipelineOptions;
  #log: Logger;
  #inbox: Queued[] = [];
  #scheduled = false;
  #seen: SeqWindow;
  #pending = new Map<string, Pending>();
  #buffer: { point: StorePoint; key: string; seq: number; pending: Pending }[] = [];
  #linger: NodeJS.Timeout | undefined;
  #flushes = new Set<Promise<void>>();
  #trackers = new Set<Tracker>();
  /** Batches in progress by site/gateway/batch. */
  #open = new Map<string, Tracker>();
  #closed = false;
  #limiter = new LogLimiter(60_000, 5);
  #stats: PipelineStats = {
    received: 0,
    batches: 0,
    refusedBatches: 0,
    stored: 0,
    duplicates: 0,
    rejected: 0,
    deadLetters: 0,
    acks: 0,
    deferred: 0,
    resendsWhilePending: 0,
    pendingReadings: 0,
    pendingBatches: 0,
    storeErrors: 0,
    throttled: 0,
    quarantined: 0,
    trackedDevices: 0,
  };
  #devices: GatewayDevices;
  #rate: RateLimiter;
  #lastSweep = 0;

  constructor(opts: PipelineOptions) {
    this.#o = opts;
    this.#log = opts.log;
    this.#seen = new SeqWindow(opts.dedupeWindow ?? 1024);
    const q = opts.quotas ?? {};
    this.#rate = new RateLimiter(q.maxReadingsPerS ?? 0);
    // A device let go by the quota is forgotten by the dedupe window too: that is what bounds it.
    this.#devices = new GatewayDevices(q.maxDevicesPerGateway ?? Infinity, q.deviceMemoryMs ?? Infinity, (gw, dev) =>
      this.#seen.forget(`${gw}/${dev}`),
    );
  }

  #sweep(now: number): void {
    if (now - this.#lastSweep < 60_000) return;
    this.#lastSweep = now;
    this.#devices.sweep(now);
    this.#rate.sweep(now);
  }

  /** From the MQTT callback: queue and return at once. */
  accept(topic: string, payload: Buffer): void {
    if (this.#closed) return;
    this.#stats.received++;
    this.#inbox.push({ topic, payload, receivedAt: Date.now() });
    this.#schedule();
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#process();
    });
  }

  #process(): void {
    const messages = this.#inbox.splice(0, MESSAGES_PER_TICK);
    if (this.#inbox.length) this.#schedule();
    this.#sweep(Date.now());
    const deadLetters: DeadLetterInput[] = [];
    const refusedAcks: { site: string; gateway: string; ack: Ack }[] = [];
    const trackers: Tracker[] = [];
    for (const m of messages) this.#handleIsolated(m, deadLetters, refusedAcks, trackers);
    // Dead letters of this tick in one durable transaction, before any ack that depends on them.
    let recorded = true;
    if (deadLetters.length) {
      try {
        this.#o.deadLetters.add(deadLetters);
        this.#stats.deadLetters += deadLetters.length;
        for (const d of deadLetters) {
          ingestMetrics.deadLetters.inc({ reason: d.class });
          this.#limiter.hit(`${d.site}/${d.gateway}`, this.#log, {
            site: d.site,
            gateway: d.gateway,
            batch: d.batch,
            index: d.index,
            reason: d.reason,
            class: d.class,
          });
        }
      } catch (err) {
        recorded = false;
        this.#log.error(
          { err: String(err), count: deadLetters.length },
          'could not record dead letters; their batches stay unacked and will be resent',
        );
      }
    }
    if (recorded) for (const r of refusedAcks) this.#ack(r.site, r.gateway, r.ack);
    for (const t of trackers) {
      if (recorded) t.deadLettersDone = true;
      else t.failed = true;
      this.#maybeComplete(t);
    }
  }

  /** A listener's failure is its own: it never costs ingest a reading. */
  #notifyAccepted(site: string, gateway: string, reading: Reading, receivedAt: number): void {
    if (!this.#o.onAccepted) return;
    try {
      this.#o.onAccepted(site, gateway, reading, receivedAt);
    } catch (err) {
      this.#log.error({ err: String(err), site, gateway, dev: reading.dev }, 'a listener of accepted readings failed');
    }
  }

  /**
   * One message, isolated from the others of its tick: whatever a payload manages to break in
   * #handle (it is validated first, so this is the last line, not the first), its half-opened batch
   * is forgotten, the payload is kept as a dead letter, and the other gateways' messages go on.
   */
  #handleIsolated(
    m: Queued,
    deadLetters: DeadLetterInput[],
    refusedAcks: { site: string; gateway: string; ack: Ack }[],
    trackers: Tracker[],
  ): void {
    const marks = [deadLetters.length, refusedAcks.length, trackers.length] as const;
    try {
      this.#handle(m, deadLetters, refusedAcks, trackers);
    } catch (err) {
      deadLetters.length = marks[0];
      refusedAcks.length = marks[1];
      for (const t of trackers.splice(marks[2])) {
        this.#trackers.delete(t);
        if (this.#open.get(t.key) === t) this.#open.delete(t.key);
      }
      const parsed = parseTopic(m.topic);
      this.#log.error({ err: String(err), topic: m.topic }, 'a message could not be processed; kept as a dead letter');
      deadLetters.push({
        receivedAt: m.receivedAt,
        site: parsed?.site ?? null,
        gateway: parsed?.gateway ?? null,
        batch: null,
        index: null,
        class: 'invalid_batch',
        reason: 'ingest could not process this message (the centre log has the error)',
        ...rawPayload(m.payload),
      });
    }
  }

  #handle(
    m: Queued,
    deadLetters: DeadLetterInput[],
    refusedAcks: { site: string; gateway: string; ack: Ack }[],
    trackers: Tracker[],
  ): void {
    const parsed = parseTopic(m.topic);
    if (parsed?.channel !== 'up' || parsed.rest.length) {
      deadLetters.push({
        receivedAt: m.receivedAt,
        site: null,
        gateway: null,
        batch: null,
        index: null,
        class: 'invalid_topic',
        reason: `not an up topic: ${m.topic}`,
        ...rawPayload(m.payload),
      });
      return;
    }
    const { site, gateway } = parsed;
    this.#stats.batches++;
    ingestMetrics.batches.inc();
    const check = checkBatch(m.payload, gateway, m.receivedAt);
    if (this.#open.has(`${site}/${gateway}/${check.ok ? check.batch.batch : ''}`)) {
      // A resend of a batch still on its way to the store (InfluxDB slow or down): its ack will
      // come when the first copy is confirmed. Dropping the copy keeps memory flat however long
      // the outage and however often the gateway resends.
      this.#stats.resendsWhilePending++;
      return;
    }
    // The rate quota comes before anything is written (dead letters included): over it, the
    // message is left unacked and the gateway resends it later (see the header).
    if (!this.#rate.take(`${site}/${gateway}`, check.ok ? check.batch.readings.length : 1, m.receivedAt)) {
      this.#stats.throttled++;
      ingestMetrics.throttled.inc();
      return;
    }
    if (!check.ok) {
      this.#stats.refusedBatches++;
      const batch = check.batchNumber ?? null;
      deadLetters.push({
        receivedAt: m.receivedAt,
        site,
        gateway,
        batch,
        index: null,
        class: check.code,
        reason: check.reason,
        ...rawPayload(m.payload),
      });
      if (batch !== null) {
        // Acked as refused, so the gateway stops resending what is kept here anyway.
        refusedAcks.push({ site, gateway, ack: { batch, stored: 0, duplicates: 0, rejected: countReadings(m.payload) } });
      }
      return;
    }
    const { batch, accepted, rejected } = check;
    if (this.#stats.pendingReadings + accepted.length > (this.#o.maxPending ?? 200_000) && accepted.length > 0) {
      // Backpressure: the store is far behind (InfluxDB down and the gateways keep sending new
      // batches). Leave this batch unacked; the gateway keeps it in its outbox and resends it.
      this.#stats.deferred++;
      return;
    }
    const batchKey = `${site}/${gateway}/${batch.batch}`;
    const t: Tracker = {
      key: batchKey,
      site,
      gateway,
      batch: batch.batch,
      stored: 0,
      duplicates: 0,
      rejected: rejected.length,
      outstanding: 0,
      deadLettersDone: false,
      failed: false,
    };
    this.#trackers.add(t);
    this.#open.set(batchKey, t);
    trackers.push(t);
    for (const r of rejected) {
      deadLetters.push({
        receivedAt: m.receivedAt,
        site,
        gateway,
        batch: batch.batch,
        index: r.index,
        class: 'invalid_reading',
        reason: r.reason,
        raw: readingText(r.raw),
      });
    }
    this.#stats.rejected += rejected.length;
    const indexOf = new Map<Reading, number>();
    if (rejected.length) {
      batch.readings.forEach((r, i) => {
        indexOf.set(r, i);
      });
    }
    const quarantine = (reading: Reading, idx: number, cls: DeadLetterInput['class'], reason: string) => {
      deadLetters.push({
        receivedAt: m.receivedAt,
        site,
        gateway,
        batch: batch.batch,
        index: idx,
        class: cls,
        reason,
        raw: readingText(reading),
      });
      t.rejected++;
      this.#stats.rejected++;
      this.#stats.quarantined++;
    };
    accepted.forEach((reading, i) => {
      const idx = rejected.length ? (indexOf.get(reading) ?? i) : i;
      // Identity first: what the registry does not let this gateway report is neither stored,
      // nor deduped, nor given a device-quota slot.
      let tags: Record<string, string> | undefined;
      if (this.#o.enrich) {
        try {
          const e = this.#o.enrich(reading, site, gateway);
          if (e instanceof Quarantine) {
            quarantine(reading, idx, e.class, e.reason);
            return;
          }
          tags = e;
        } catch (err) {
          this.#log.error({ err: String(err) }, 'enrich hook failed; reading stored without extra tags');
        }
      }
      if (!this.#devices.admit(`${site}/${gateway}`, reading.dev, m.receivedAt)) {
        const reason =
          `gateway ${site}/${gateway} already reports ${this.#devices.max} distinct devices heard in the last ` +
          `${Math.round(this.#devices.ttlMs / 1000)} s; a new id '${reading.dev}' is not tracked`;
        quarantine(reading, idx, 'device_quota', reason);
        return;
      }
      const deviceKey = `${site}/${gateway}/${reading.dev}`;
      if (this.#seen.has(deviceKey, reading.seq, reading.ts)) {
        t.duplicates++;
        this.#stats.duplicates++;
        ingestMetrics.readings.inc({ result: 'duplicate' });
        return;
      }
      // seq and ts: a restarted counter's seq 5 is another reading than the old seq 5.
      const key = `${deviceKey}\u0000${reading.seq}\u0000${reading.ts}`;
      const pending = this.#pending.get(key);
      t.outstanding++;
      if (pending) {
        pending.waiters.push(t); // the same reading is already on its way (a resend, or twice in one batch)
        return;
      }
      const p: Pending = { owner: t, waiters: [] };
      this.#pending.set(key, p);
      this.#stats.pendingReadings++;
      this.#buffer.push({ point: { site, gateway, batch: batch.batch, idx, reading, tags }, key, seq: reading.seq, pending: p });
      this.#notifyAccepted(site, gateway, reading, m.receivedAt);
    });
    if (this.#buffer.length >= (this.#o.maxPoints ?? 5000)) this.#flush();
    else if (this.#buffer.length && !this.#linger) this.#linger = setTimeout(() => this.#flush(), this.#o.lingerMs ?? 10);
  }

  #flush(): void {
    if (this.#linger) {
      clearTimeout(this.#linger);
      this.#linger = undefined;
    }
    if (this.#buffer.length === 0) return;
    const items = this.#buffer;
    this.#buffer = [];
    const started = performance.now();
    const run = (async () => {
      try {
        const result = await this.#o.store.write(items.map((i) => i.point));
        if (this.#o.store.name === 'sqlite')
          ingestMetrics.storeWriteSeconds.observe({ store: 'sqlite' }, (performance.now() - started) / 1000);
        const refused = new Map(result.rejected.map((r) => [r.index, r.reason]));
        let stored = 0; // counted once per flush: a labelled inc() per reading was measurable CPU
        items.forEach((item, i) => {
          this.#pending.delete(item.key);
          this.#stats.pendingReadings--;
          const deviceKey = item.key.slice(0, item.key.indexOf('\u0000'));
          const { owner, waiters } = item.pending;
          if (refused.has(i)) {
            // Dead-lettered by the store itself (with the store's reason) before it resolved.
            this.#stats.rejected += 1 + waiters.length;
            this.#stats.deadLetters++; // recorded and counted in the metric by the store
            owner.rejected++;
            for (const w of waiters) w.rejected++;
          } else {
            this.#seen.markConfirmed(deviceKey, item.seq, item.point.reading.ts);
            owner.stored++;
            this.#stats.stored++;
            stored++;
            for (const w of waiters) w.duplicates++;
            if (waiters.length) {
              this.#stats.duplicates += waiters.length;
              ingestMetrics.readings.inc({ result: 'duplicate' }, waiters.length);
            }
          }
          owner.outstanding--;
          for (const w of waiters) w.outstanding--;
        });
        if (stored) ingestMetrics.readings.inc({ result: 'stored' }, stored);
        for (const item of items) {
          this.#maybeComplete(item.pending.owner);
          for (const w of item.pending.waiters) this.#maybeComplete(w);
        }
      } catch (err) {
        this.#stats.storeErrors++;
        if (!this.#closed)
          this.#log.error({ err: String(err), points: items.length }, 'store write failed; those batches stay unacked and will be resent');
        for (const item of items) {
          this.#pending.delete(item.key);
          this.#stats.pendingReadings--;
          for (const t of [item.pending.owner, ...item.pending.waiters]) {
            t.failed = true;
            t.outstanding--;
            this.#maybeComplete(t);
          }
        }
      }
    })();
    this.#flushes.add(run);
    void run.finally(() => this.#flushes.delete(run));
  }

  #maybeComplete(t: Tracker): void {
    if (!this.#trackers.has(t) || t.outstanding > 0 || !(t.deadLettersDone || t.failed)) return;
    this.#trackers.delete(t);
    if (this.#open.get(t.key) === t) this.#open.delete(t.key);
    if (t.failed) return;
    this.#ack(t.site, t.gateway, { batch: t.batch, stored: t.stored, duplicates: t.duplicates, rejected: t.rejected });
  }

  #ack(site: string, gateway: string, ack: Ack): void {
    if (this.#closed && !this.#closing) return;
    try {
      this.#o.publishAck(site, gateway, ack);
      this.#stats.acks++;
      ingestMetrics.acks.inc();
    } catch (err) {
      this.#log.error({ err: String(err), site, gateway, batch: ack.batch }, 'could not publish ack; the gateway will resend');
    }
  }

  #closing = false;

  stats(): PipelineStats {
    return { ...this.#stats, pendingBatches: this.#trackers.size, trackedDevices: this.#devices.size };
  }

  /** Stops accepting, processes what is queued, flushes and waits (up to timeoutMs) for the store. */
  async close(timeoutMs = 5000): Promise<void> {
    if (this.#closed) return;
    this.#closing = true;
    this.#closed = true;
    while (this.#inbox.length) this.#process();
    this.#flush();
    await settledWithin(Promise.allSettled([...this.#flushes]), timeoutMs);
    this.#closing = false;
  }
}

/** How many readings a refused payload carried (for the ack's `rejected`), 0 when unknown. */
function countReadings(payload: Buffer): number {
  try {
    const body = JSON.parse(payload.toString('utf8')) as { readings?: unknown };
    return Array.isArray(body.readings) ? body.readings.length : 0;
  } catch {
    return 0;
  }
}
