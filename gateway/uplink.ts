// The gateway's uplink: moves batches from the outbox to the centre and deletes them only when
// the centre acks them (per batch, see devices/contract.ts `Ack`). The outbox is the single
// store of truth; the MQTT client is used as a pipe, never as a queue.
//
// Decisions (see also the report in the commit that added this file):
//
// * start() resolves immediately, before the first connection. A gateway must keep accepting
//   readings into its outbox while the centre is unreachable, so nothing may wait for the
//   broker; the client retries forever (mqtt.js reconnectPeriod). `waitConnected()` is there for
//   callers that do want to wait (tests, simulators).
//
// * Publish only while connected (and subscribed to our ack topic). mqtt.js keeps offline QoS 1
//   publishes in its `outgoingStore` — by default an in-memory Map that is lost on a crash, and
//   with the default message-id provider silently drops everything past 65,535 queued messages
//   (measured: 70,000 queued, 65,535 delivered, no error). On reconnect it replays that store one message per round trip
//   and emits 'connect' only afterwards. So we never hand it work while offline: at most
//   `window` batches (+ the birth message) are ever in its hands. When a connection closes we
//   remove what it still holds (`removeOutgoingMessage`) because we resend those batches
//   ourselves from the outbox; otherwise every reconnect would send them twice. We still use
//   UniqueMessageIdProvider, so that even a misconfigured huge window cannot reuse an id.
//
// * Resend policy: a batch keeps its number and readings forever. It is resent (a) when it has
//   been unacked for `resendAfterMs` on the current connection (a lost message or a lost ack),
//   and (b) after every (re)connect, every numbered unacked batch in ascending order before any
//   new batch — which also covers a fresh process whose SqliteOutbox still holds numbered
//   batches. Duplicates at the centre are expected and harmless: ingest dedupes on (dev, seq).
//
// * Flow control: at most `window` batches unacked on the wire. Every ack frees a slot and
//   sends the next batch at once, so a backlog drains as fast as the round trip allows
//   (window-limited, not timer-limited). kick() coalesces a burst of calls into one send.
//
// * clean session: true. Our subscription to the ack topic is renewed on every connect, and no
//   broker keeps queues for a gateway that has gone for good. An ack lost while we were away is
//   made good by the resend after reconnect.

import { connect, UniqueMessageIdProvider, type MqttClient } from 'mqtt';
import {
  gatewayClientId,
  MAX_BATCH_BYTES,
  MAX_READINGS_PER_BATCH,
  checkAck,
  topics,
  type GatewayState,
  type Reading,
  type UpBatch,
} from '../devices/contract.ts';
import { silentLogger, type Logger } from '../lib/log.ts';
import { counter, gauge } from '../lib/metrics.ts';
import type { Outbox } from './outbox.ts';
import { Waiters, settledWithin } from '../lib/timeout.ts';
import pkg from '../package.json' with { type: 'json' };

export interface UplinkOptions {
  /** Broker URL, e.g. `mqtt://127.0.0.1:1883` or `mqtts://…`. */
  url: string;
  username?: string;
  password?: string;
  site: string;
  gateway: string;
  outbox: Outbox;
  /** Readings per batch, default 500, at most MAX_READINGS_PER_BATCH. */
  maxBatchReadings?: number;
  /** Most batches unacked at once, default 8. */
  window?: number;
  /** Resend a batch unacked this long on the current connection, default 10,000 ms. */
  resendAfterMs?: number;
  /** Default `gw-{site}.{gateway}` (gatewayClientId). */
  clientId?: string;
  log?: Logger;
  /** mqtt.js connectTimeout, default 10,000 ms. */
  connectTimeoutMs?: number;
  /** Pause between reconnect attempts, default 2,000 ms. */
  reconnectPeriodMs?: number;
  /** Reported in the birth message; default the package version. */
  version?: string;
}

export interface UplinkStats {
  /** Batches sent for the first time. */
  sent: number;
  /** Batches sent again (timeout, reconnect, or left numbered by a previous process). */
  resent: number;
  /** Batches acked (deleted from the outbox). */
  acked: number;
  /** Readings in acked batches. */
  ackedReadings: number;
  /** Acks for batches we no longer hold (answers to resends). */
  duplicateAcks: number;
  /** Readings the centre reported as dead-lettered, from the acks. */
  rejected: number;
  /** Batches on the wire awaiting an ack. */
  inFlight: number;
  connected: boolean;
  /** Connections made (1 after the first connect). */
  connects: number;
}

/** Room for the batch envelope `{"gw":…,"batch":…,"sent":…,"readings":[…]}` around the readings. */
const ENVELOPE_BYTES = 256;

const metrics = {
  depth: gauge({
    name: 'testbed_gateway_outbox_depth',
    help: 'Readings queued in gateway outboxes (sum over the uplinks of this process).',
  }),
  inFlight: gauge({
    name: 'testbed_gateway_batches_in_flight',
    help: 'Batches sent and not yet acked (sum over the uplinks of this process).',
  }),
  connected: gauge({ name: 'testbed_gateway_uplinks_connected', help: 'Uplinks connected to the broker.' }),
  sent: counter({ name: 'testbed_gateway_batches_sent_total', help: 'Batches sent for the first time.' }),
  resent: counter({
    name: 'testbed_gateway_batches_resent_total',
    help: 'Batches sent again (unacked after resendAfterMs, or after a reconnect).',
  }),
  acked: counter({ name: 'testbed_gateway_batches_acked_total', help: 'Batches acked by the centre and deleted from the outbox.' }),
  ackedReadings: counter({ name: 'testbed_gateway_readings_acked_total', help: 'Readings in acked batches.' }),
};

interface InFlight {
  readings: Reading[];
  sentAt: number;
}

export class Uplink {
  private readonly opts: UplinkOptions;
  private readonly outbox: Outbox;
  private readonly log: Logger;
  private readonly maxBatchReadings: number;
  private readonly window: number;
  private readonly resendAfterMs: number;
  private readonly upTopic: string;
  private readonly ackTopic: string;
  private readonly stateTopic: string;
  private readonly cmdFilter: string;
  private readonly cmdPrefix: string;
  private commandHandler: ((name: string, payload: Buffer) => void) | undefined;
  /** QoS 1 messages (events, command replies) published while offline, sent on the next connect. Bounded. */
  private offlineQueue: { topic: string; payload: string; qos: 0 | 1; retain: boolean }[] = [];
  private client: MqttClient | undefined;
  /** True while connected and subscribed to the ack topic: only then do we publish. */
  private ready = false;
  /** Bumped on every connect and close, so a late callback of an old connection is ignored. */
  private generation = 0;
  private readonly inflight = new Map<number, InFlight>();
  /** Numbered batches to (re)send before any new one, ascending; consumed from `pendingAt`. */
  private pending: number[] = [];
  private pendingAt = 0;
  private kickScheduled = false;
  private timer: NodeJS.Timeout | undefined;
  private stopping = false;
  private errorLogged = false;
  private lastDepth = 0;
  private lastInFlight = 0;
  private readonly drainWaiters = new Waiters();
  private readonly connectWaiters = new Waiters();
  private readonly counts = { sent: 0, resent: 0, acked: 0, ackedReadings: 0, duplicateAcks: 0, rejected: 0, connects: 0 };

  constructor(opts: UplinkOptions) {
    this.opts = opts;
    this.outbox = opts.outbox;
    this.log = (opts.log ?? silentLogger).child({ site: opts.site, gateway: opts.gateway });
    this.maxBatchReadings = Math.max(1, Math.min(opts.maxBatchReadings ?? 500, MAX_READINGS_PER_BATCH));
    this.window = Math.max(1, opts.window ?? 8);
    this.resendAfterMs = Math.max(1, opts.resendAfterMs ?? 10_000);
    this.upTopic = topics.up(opts.site, opts.gateway);
    this.ackTopic = topics.ack(opts.site, opts.gateway);
    this.stateTopic = topics.state(opts.site, opts.gateway);
    this.cmdFilter = topics.cmd(opts.site, opts.gateway, '+');
    this.cmdPrefix = topics.cmd(opts.site, opts.gateway, '');
  }

  /** Creates the client and returns at once; it connects in the background and retries forever. */
  async start(): Promise<void> {
    if (this.client) return;
    this.stopping = false;
    const o = this.opts;
    const client = connect(o.url, {
      clientId: o.clientId ?? gatewayClientId(o),
      ...(o.username !== undefined ? { username: o.username } : {}),
      ...(o.password !== undefined ? { password: o.password } : {}),
      protocolVersion: 4,
      clean: true,
      resubscribe: false,
      queueQoSZero: false,
      keepalive: 30,
      connectTimeout: o.connectTimeoutMs ?? 10_000,
      reconnectPeriod: o.reconnectPeriodMs ?? 2_000,
      messageIdProvider: new UniqueMessageIdProvider(),
      will: { topic: this.stateTopic, payload: Buffer.from(this.statePayload(false)), qos: 1, retain: true },
    });
    this.client = client;
    client.on('connect', () => this.onConnect(client));
    client.on('close', () => this.onClose(client));
    client.on('message', (topic, payload) => {
      if (topic === this.ackTopic) this.onAck(payload);
      else if (topic.startsWith(this.cmdPrefix) && this.commandHandler) {
        const name = topic.slice(this.cmdPrefix.length);
        if (name && !name.includes('/')) this.commandHandler(name, payload);
      }
    });
    client.on('reconnect', () => {
      // The will is fixed at CONNECT: give it the time of this attempt rather than of the first.
      if (client.options.will) client.options.will.payload = Buffer.from(this.statePayload(false));
    });
    client.on('error', (err) => {
      // Loud once per outage, then quiet: the client retries every reconnectPeriodMs, forever.
      if (!this.errorLogged) this.log.warn({ err: err.message, url: o.url }, 'uplink: cannot reach the broker; retrying');
      else this.log.debug({ err: err.message }, 'uplink: connection error; retrying');
      this.errorLogged = true;
    });
    const tick = Math.max(20, Math.min(1000, Math.floor(this.resendAfterMs / 4)));
    this.timer = setInterval(() => this.onTick(), tick);
    this.timer.unref();
  }

  /** New readings are in the outbox: send if the window allows. Cheap; a burst of calls sends once. */
  kick(): void {
    if (this.kickScheduled) return;
    this.kickScheduled = true;
    setImmediate(() => {
      this.kickScheduled = false;
      if (!this.client) return;
      this.pump();
      this.updateGauges();
    });
  }

  /** Resolves when the outbox is empty (everything acked); rejects after timeoutMs. */
  drained(timeoutMs?: number): Promise<void> {
    if (this.outbox.stats().depth === 0) return Promise.resolve();
    return this.drainWaiters.wait(timeoutMs, () => {
      const s = this.outbox.stats();
      return (
        `uplink ${this.opts.gateway}: outbox not drained after ${timeoutMs} ms ` +
        `(depth ${s.depth}, unbatched ${s.unbatched}, batches in flight ${s.inFlightBatches}, connected ${this.ready})`
      );
    });
  }

  /** Resolves once connected and subscribed (now, if already); rejects after timeoutMs. */
  waitConnected(timeoutMs?: number): Promise<void> {
    if (this.ready) return Promise.resolve();
    return this.connectWaiters.wait(
      timeoutMs,
      () => `uplink ${this.opts.gateway}: not connected to ${this.opts.url} after ${timeoutMs} ms`,
    );
  }

  /**
   * Receive commands on `…/cmd/{name}` over this uplink's connection (the gateway's one
   * connection to the centre). Set before start(); the subscription is renewed on every connect.
   */
  onCommand(handler: (name: string, payload: Buffer) => void): void {
    this.commandHandler = handler;
  }

  /**
   * Publishes on the same connection (health, events, command replies). QoS 0 is dropped while
   * offline; QoS 1 is kept in a small in-memory queue (at most `maxQueued`, oldest dropped) and
   * sent after the next connect. Resolves true when handed to the connected client.
   */
  async publish(topic: string, payload: string | object, opts: { qos?: 0 | 1; retain?: boolean } = {}): Promise<boolean> {
    const body = typeof payload === 'string' ? payload : JSON.stringify(payload);
    const qos = opts.qos ?? 0;
    const retain = opts.retain ?? false;
    if (!this.ready || !this.client) {
      if (qos === 1) {
        this.offlineQueue.push({ topic, payload: body, qos, retain });
        if (this.offlineQueue.length > Uplink.maxQueued) this.offlineQueue.shift();
      }
      return false;
    }
    this.client.publish(topic, body, { qos, retain }, () => undefined);
    return true;
  }

  /** Most QoS 1 messages (other than batches) kept while offline. */
  static maxQueued = 1000;

  stats(): UplinkStats {
    return { ...this.counts, inFlight: this.inflight.size, connected: this.ready };
  }

  /** The message-id provider of the MQTT client (for tests and health: it must be unique). */
  get messageIdProvider(): unknown {
    return this.client?.options.messageIdProvider;
  }

  /** Publishes a retained offline state when connected, then disconnects. The outbox is left open (its owner closes it). */
  async stop(): Promise<void> {
    const client = this.client;
    if (!client) return;
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.ready) {
      const offline = client.publishAsync(this.stateTopic, this.statePayload(false), { qos: 1, retain: true });
      await settledWithin(offline, 2000);
    }
    // Batches still on the wire stay in the outbox; mqtt.js need not wait for their PUBACKs.
    for (const id of Object.keys(client.outgoing)) client.removeOutgoingMessage(Number(id));
    const ended = (force: boolean) => new Promise<void>((resolve) => client.end(force, () => resolve()));
    if (!(await settledWithin(ended(false), 2000))) await ended(true);
    this.ready = false;
    this.inflight.clear();
    this.client = undefined;
    this.drainWaiters.rejectAll(new Error(`uplink ${this.opts.gateway} stopped before the outbox drained`));
    this.updateGauges(true);
  }

  // ── internals ────────────────────────────────────────────────────────────────────────────

  private statePayload(online: boolean): string {
    const state: GatewayState = { online, ts: Date.now() };
    if (online) state.version = this.opts.version ?? pkg.version;
    return JSON.stringify(state);
  }

  private onConnect(client: MqttClient): void {
    if (client !== this.client || this.stopping) return;
    const generation = ++this.generation;
    client.subscribe(this.ackTopic, { qos: 1 }, (err, granted) => {
      if (generation !== this.generation || client !== this.client) return;
      if (err || !granted || granted.some((g) => g.qos === 128)) {
        // Without the subscription no ack can come: the batches would only be resent forever.
        this.log.error({ err: err?.message, topic: this.ackTopic }, 'uplink: subscription to the ack topic refused; reconnecting');
        client.stream?.destroy();
        return;
      }
      client.publish(this.stateTopic, this.statePayload(true), { qos: 1, retain: true }, () => undefined);
      if (this.commandHandler) {
        client.subscribe(this.cmdFilter, { qos: 1 }, (cmdErr, cmdGranted) => {
          if (cmdErr || !cmdGranted || cmdGranted.some((g) => g.qos === 128))
            this.log.error(
              { err: cmdErr?.message, topic: this.cmdFilter },
              'uplink: subscription to commands refused; commands will not arrive',
            );
        });
      }
      for (const m of this.offlineQueue.splice(0)) client.publish(m.topic, m.payload, { qos: m.qos, retain: m.retain }, () => undefined);
      this.ready = true;
      this.counts.connects++;
      this.errorLogged = false;
      const s = this.outbox.stats();
      this.log.info(
        { url: this.opts.url, backlog: s.depth, unackedBatches: s.inFlightBatches, connects: this.counts.connects },
        'uplink: connected',
      );
      // Every numbered batch not yet acked goes first, in order; they may have been lost with
      // the previous connection (or the previous process).
      this.inflight.clear();
      this.pending = this.outbox.unackedBatches();
      this.pendingAt = 0;
      this.connectWaiters.resolveAll();
      this.pump();
      this.updateGauges();
    });
  }

  private onClose(client: MqttClient): void {
    if (client !== this.client) return;
    this.generation++;
    // What mqtt.js still holds would be replayed by it on reconnect, before 'connect', one
    // message per round trip; we resend those batches ourselves from the outbox instead.
    for (const id of Object.keys(client.outgoing)) client.removeOutgoingMessage(Number(id));
    this.inflight.clear();
    if (this.ready && !this.stopping) {
      const s = this.outbox.stats();
      this.log.warn({ backlog: s.depth, unackedBatches: s.inFlightBatches }, 'uplink: disconnected; readings stay in the outbox');
    }
    this.ready = false;
    this.updateGauges();
  }

  private onAck(payload: Buffer): void {
    const ack = checkAck(payload);
    if (!ack) {
      this.log.warn({ payload: payload.toString('utf8').slice(0, 200) }, 'uplink: unreadable ack ignored (the batch will be resent)');
      return;
    }
    let deleted = 0;
    try {
      deleted = this.outbox.ack(ack.batch);
    } catch (err) {
      this.log.error(
        { err: (err as Error).message, batch: ack.batch },
        'uplink: outbox could not delete an acked batch; it will be resent',
      );
      return;
    }
    this.inflight.delete(ack.batch);
    if (deleted > 0) {
      this.counts.acked++;
      this.counts.ackedReadings += deleted;
      metrics.acked.inc();
      metrics.ackedReadings.inc(deleted);
      if (ack.rejected > 0) {
        this.counts.rejected += ack.rejected;
        this.log.warn({ batch: ack.batch, rejected: ack.rejected }, 'uplink: the centre dead-lettered readings of a batch');
      }
    } else {
      this.counts.duplicateAcks++;
    }
    this.pump();
    this.updateGauges();
    this.checkDrained();
  }

  private onTick(): void {
    if (this.ready && this.client) {
      const now = Date.now();
      for (const [batch, entry] of this.inflight) {
        if (now - entry.sentAt >= this.resendAfterMs) {
          this.log.debug({ batch, ageMs: now - entry.sentAt }, 'uplink: batch unacked; resending');
          this.publishBatch(batch, entry.readings, true);
        }
      }
      // A safety net for readings accepted without a kick().
      this.pump();
    }
    this.updateGauges();
    this.checkDrained();
  }

  /** Fills the window: pending (numbered, unacked) batches first, then new batches. */
  private pump(): void {
    if (!this.ready || this.stopping || !this.client) return;
    try {
      while (this.inflight.size < this.window) {
        let next: { batch: number; readings: Reading[]; resend: boolean } | null = null;
        while (this.pendingAt < this.pending.length) {
          const batch = this.pending[this.pendingAt++]!;
          if (this.inflight.has(batch)) continue;
          const readings = this.outbox.batch(batch);
          if (readings) {
            next = { batch, readings, resend: true };
            break;
          }
        }
        if (!next) {
          const fresh = this.outbox.nextBatch(this.maxBatchReadings, MAX_BATCH_BYTES - ENVELOPE_BYTES);
          if (!fresh) break;
          next = { ...fresh, resend: false };
        }
        this.publishBatch(next.batch, next.readings, next.resend);
      }
    } catch (err) {
      // An outbox error (disk full, I/O) must not kill the gateway: log, retry on the next tick.
      this.log.error({ err: (err as Error).message }, 'uplink: outbox error while preparing a batch');
    }
  }

  private publishBatch(batch: number, readings: Reading[], resend: boolean): void {
    const client = this.client!;
    const body: UpBatch = { gw: this.opts.gateway, batch, sent: Date.now(), readings };
    this.inflight.set(batch, { readings, sentAt: body.sent });
    if (resend) {
      this.counts.resent++;
      metrics.resent.inc();
    } else {
      this.counts.sent++;
      metrics.sent.inc();
    }
    // The PUBACK only means the broker has it; the ack that counts comes from the centre.
    client.publish(this.upTopic, JSON.stringify(body), { qos: 1 }, () => undefined);
  }

  private checkDrained(): void {
    if (this.drainWaiters.size === 0 || this.outbox.stats().depth !== 0) return;
    this.drainWaiters.resolveAll();
  }

  /** Each uplink adds its own share to the process-wide gauges. */
  private updateGauges(leaving = false): void {
    if (!leaving && !this.client) return;
    const depth = leaving ? 0 : this.outbox.stats().depth;
    const inFlight = leaving ? 0 : this.inflight.size;
    metrics.depth.inc(depth - this.lastDepth);
    metrics.inFlight.inc(inFlight - this.lastInFlight);
    this.lastDepth = depth;
    this.lastInFlight = inFlight;
    const connected = this.ready && !leaving;
    if (connected !== this.gaugeConnected) {
      metrics.connected.inc(connected ? 1 : -1);
      this.gaugeConnected = connected;
    }
  }

  private gaugeConnected = false;
}
