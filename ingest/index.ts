// ingest/: from the broker's `up` topics into the store, nothing lost.
//
// Wires an MQTT subscription (QoS 1 on lab/v1/+/+/up) to the pipeline, the pipeline to a
// readings store (InfluxDB through a durable spool when influxUrl is set, else the embedded
// SQLite store in the data dir) and to the dead-letter store, and publishes per-batch acks.
//
// Session choice: CLEAN session (clean: true, a fresh subscription on every connect). The
// durability of a reading is end to end — the gateway keeps it in its fsync'd outbox until the
// per-batch ack, and resends what is not acked — so a broker-side persistent session would add
// nothing to "nothing lost". It would cost: the broker queueing an unbounded backlog (in memory
// for aedes) while ingest is away, that backlog replayed on top of the gateways' own resends
// (every batch twice), a fixed client id that two ingest instances fight over, and Mosquitto's
// max_queued_messages silently dropping past its limit. With a clean session, what arrives while
// ingest is down is simply not delivered, stays unacked at the gateway, and is resent.

import { hostname } from 'node:os';
import mqtt, { UniqueMessageIdProvider, type MqttClient } from 'mqtt';
import { topics, type Ack } from '../devices/index.ts';
import type { Config } from '../lib/config.ts';
import { silentLogger, type Logger } from '../lib/log.ts';
import { ChannelChecker, CHANNEL_FILTERS, type ChannelStats } from './channels.ts';
import { DeadLetterStore } from './dead-letters.ts';
import { InfluxStore } from './influx-store.ts';
import { Pipeline, type Enrich, type PipelineOptions, type PipelineStats } from './pipeline.ts';
import { SqliteStore } from './sqlite-store.ts';
import type { ReadingStore } from './types.ts';
import { settledWithin, withTimeout } from '../lib/timeout.ts';

export {
  DeadLetterStore,
  rawPayload,
  type DeadLetter,
  type DeadLetterInput,
  type DeadLetterQuery,
  type DeadLetterClass,
} from './dead-letters.ts';
export { InfluxStore, type InfluxStoreOptions } from './influx-store.ts';
export { SqliteStore } from './sqlite-store.ts';
export { toLine, timestampNs, escapeKey, escapeMeasurement, escapeStringField, LineProtocolError } from './line-protocol.ts';
export { GatewayDevices, SeqWindow } from './dedupe.ts';
export type { Enrich, PipelineStats } from './pipeline.ts';
export { Quarantine, RATE_BURST_S, RateLimiter, type IngestQuotas } from './quotas.ts';
export type { ReadingStore, StorePoint, StoredReading, ReadingQuery, WriteResult, DeviceDay, DeviceDayQuery, DeviceLast } from './types.ts';
export { DAY_MS, localDayStart, reportingSlotMs } from './types.ts';

export interface IngestOptions {
  config: Config;
  mqtt: { url: string; username?: string | undefined; password?: string | undefined; clientId?: string | undefined };
  /** Defaults from config: InfluxStore when influxUrl is set, else SqliteStore in dataDir. Passed-in stores are not closed by close(). */
  store?: ReadingStore | undefined;
  deadLetters?: DeadLetterStore | undefined;
  log?: Logger | undefined;
  /** Seam for the registry: extra tags per reading (home, participant). */
  enrich?: Enrich | undefined;
  /** Each reading ingest takes, as it takes it (see PipelineOptions.onAccepted). */
  onAccepted?: PipelineOptions['onAccepted'];
  /** Coalescing of readings into store writes: size (default influxBatchSize) and linger (default 10 ms). */
  maxPoints?: number | undefined;
  lingerMs?: number | undefined;
  /** Give up starting when the broker has not accepted the subscription within this time (default 30 s). */
  connectTimeoutMs?: number | undefined;
}

export interface IngestStats extends PipelineStats {
  connected: boolean;
  store: 'influx' | 'sqlite';
  spoolDepth: number;
  channels: ChannelStats;
}

export interface IngestHandle {
  store: ReadingStore;
  deadLetters: DeadLetterStore;
  stats(): IngestStats;
  close(): Promise<void>;
}

export async function startIngest(opts: IngestOptions): Promise<IngestHandle> {
  const { config } = opts;
  const log = opts.log ?? silentLogger;
  const ownDeadLetters = !opts.deadLetters;
  const deadLetters =
    opts.deadLetters ??
    new DeadLetterStore(config.dataDir, {
      maxBytesPerGateway: config.deadLetterMaxBytes,
      retentionMs: config.deadLetterRetentionDays * 86_400_000,
    });
  const ownStore = !opts.store;
  const store: ReadingStore =
    opts.store ??
    (config.influxUrl
      ? InfluxStore.fromConfig(config, deadLetters, log)
      : new SqliteStore(config.dataDir, { rollupUtcOffsetMin: config.monitorUtcOffsetMin }));
  let client: MqttClient | undefined;
  try {
    await store.init();
  } catch (err) {
    if (ownStore) await store.close();
    if (ownDeadLetters) deadLetters.close();
    throw err;
  }

  const pipeline = new Pipeline({
    store,
    deadLetters,
    log,
    enrich: opts.enrich,
    onAccepted: opts.onAccepted,
    maxPoints: opts.maxPoints ?? config.influxBatchSize,
    lingerMs: opts.lingerMs,
    quotas: {
      maxReadingsPerS: config.ingestMaxReadingsPerS,
      maxDevicesPerGateway: config.ingestMaxDevicesPerGateway,
      deviceMemoryMs: config.ingestDeviceMemoryS * 1000,
    },
    publishAck: (site: string, gateway: string, ack: Ack) => {
      client?.publish(topics.ack(site, gateway), JSON.stringify(ack), { qos: 1 }, (err) => {
        if (err)
          log.warn(
            { site, gateway, batch: ack.batch, err: String(err) },
            'ack not delivered to the broker; the gateway will resend the batch',
          );
      });
    },
  });

  const clientId = opts.mqtt.clientId ?? `testbed-ingest-${hostname()}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  client = mqtt.connect(opts.mqtt.url, {
    clientId,
    ...(opts.mqtt.username !== undefined ? { username: opts.mqtt.username } : {}),
    ...(opts.mqtt.password !== undefined ? { password: opts.mqtt.password } : {}),
    clean: true,
    resubscribe: false, // we subscribe on every connect ourselves (clean session: nothing is kept)
    reconnectPeriod: 1000,
    connectTimeout: 10_000,
    // Acks are QoS 1 publishes; the default id provider silently drops past 65,535 queued.
    messageIdProvider: new UniqueMessageIdProvider(),
  });
  const c = client;
  // State, health, events and command replies are judged (dead letters for what fails); `up` goes to the pipeline.
  const channels = new ChannelChecker({ deadLetters, log });
  c.on('message', (topic, payload, packet) => {
    if (!channels.accept(topic, payload, packet.retain)) pipeline.accept(topic, payload);
  });

  let connected = false;
  let firstSubscribe: { resolve: () => void; reject: (e: Error) => void } | undefined;
  const subscribed = new Promise<void>((resolve, reject) => (firstSubscribe = { resolve, reject }));
  c.on('connect', () => {
    const filters = { [topics.allUp]: { qos: 1 as const }, ...Object.fromEntries(CHANNEL_FILTERS.map((f) => [f, { qos: 0 as const }])) };
    c.subscribe(filters, (err, granted) => {
      const refused = !err && granted?.some((g) => g.qos === 128);
      if (err || refused) {
        const e = new Error(
          `subscribing to ${Object.keys(filters).join(', ')} failed: ${err ? err.message : 'refused by the broker (ACL?)'}`,
        );
        log.error({ err: e.message }, 'subscribe failed');
        firstSubscribe?.reject(e);
        return;
      }
      connected = true;
      log.info({ url: opts.mqtt.url, clientId, topic: topics.allUp }, 'ingest subscribed');
      firstSubscribe?.resolve();
      firstSubscribe = undefined;
    });
  });
  c.on('close', () => {
    if (connected) log.warn('ingest lost the broker connection; reconnecting (unacked batches will be resent by gateways)');
    connected = false;
  });
  c.on('error', (err) => log.warn({ err: err.message }, 'mqtt error'));

  const timeoutMs = opts.connectTimeoutMs ?? 30_000;
  try {
    await withTimeout(subscribed, timeoutMs, `ingest could not subscribe at ${opts.mqtt.url} within ${timeoutMs} ms`);
  } catch (err) {
    await c.endAsync(true).catch(() => undefined);
    await pipeline.close(0);
    if (ownStore) await store.close();
    if (ownDeadLetters) deadLetters.close();
    throw err;
  }

  let closed: Promise<void> | undefined;
  return {
    store,
    deadLetters,
    stats: () => ({ ...pipeline.stats(), connected, store: store.name, spoolDepth: store.depth(), channels: channels.stats() }),
    close: () =>
      (closed ??= (async () => {
        c.removeAllListeners('message');
        await c.unsubscribeAsync([topics.allUp, ...CHANNEL_FILTERS]).catch(() => undefined);
        await pipeline.close();
        channels.flush();
        // Let the last acks reach the broker, then disconnect.
        await settledWithin(c.endAsync(false), 2000);
        if (!c.disconnected) await c.endAsync(true).catch(() => undefined);
        if (ownStore) await store.close();
        if (ownDeadLetters) deadLetters.close();
      })()),
  };
}
