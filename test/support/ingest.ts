// Helpers for the ingest tests: a config on temp dirs, batch builders, an ack collector, and a
// small resending publisher that behaves like a gateway's uplink (window of unacked batches,
// resend whatever is not acked within a timeout) so fault tests can count what arrives.

import mqtt, { type MqttClient } from 'mqtt';
import { loadConfig, type Config } from '../../lib/config.ts';
import { checkAck, topics, type Ack, type Reading, type UpBatch } from '../../devices/index.ts';
import { tempDir, waitFor } from './servers.ts';

export function testConfig(overrides: Partial<Config> = {}): Config {
  return loadConfig({ env: {}, overrides: { dataDir: tempDir('testbed-ingest-'), logLevel: 'silent', ...overrides } });
}

export const T0 = Date.UTC(2025, 0, 15, 8, 0, 0);

export function climate(dev: string, seq: number, temperature = 20 + (seq % 10) / 2): Reading {
  return {
    dev,
    kind: 'climate',
    seq,
    ts: T0 + seq * 1000,
    v: { temperature_c: temperature, humidity_pct: 40 },
    q: { battery: 90, lqi: 100 },
  };
}

export function batchOf(gw: string, batch: number, readings: unknown[]): string {
  return JSON.stringify({ gw, batch, sent: Date.now(), readings } satisfies Omit<UpBatch, 'readings'> & { readings: unknown[] });
}

/** A client without credentials, for brokers the test runs open (Mosquitto). */
export async function connectAnonymous(url: string, clientId = `test-${Math.random().toString(36).slice(2)}`): Promise<MqttClient> {
  return mqtt.connectAsync(url, { clientId, clean: true, reconnectPeriod: 200 });
}

/** Subscribes to every ack and keeps them in arrival order. */
export async function ackCollector(url: string): Promise<{
  acks: { site: string; gateway: string; ack: Ack }[];
  waitForAck(gateway: string, batch: number, n?: number): Promise<Ack>;
  close(): Promise<void>;
}> {
  const client = await connectAnonymous(url);
  const acks: { site: string; gateway: string; ack: Ack }[] = [];
  client.on('message', (topic, payload) => {
    const [, , site, gateway] = topic.split('/');
    const ack = checkAck(payload);
    if (ack && site && gateway) acks.push({ site, gateway, ack });
  });
  await client.subscribeAsync('lab/v1/+/+/ack', { qos: 1 });
  return {
    acks,
    waitForAck: (gateway, batch, n = 1) =>
      waitFor(
        `ack #${n} of batch ${batch} from ${gateway}`,
        async () => {
          const found = acks.filter((a) => a.gateway === gateway && a.ack.batch === batch);
          return found.length >= n ? found[n - 1]!.ack : undefined;
        },
        20_000,
      ),
    close: () => client.endAsync(true),
  };
}

export interface PublisherOptions {
  url: string;
  site: string;
  gateway: string;
  devices: number;
  batches: number;
  readingsPerBatch: number;
  /** Unacked batches at most in flight. */
  window?: number;
  /** Resend a batch not acked within this time. */
  resendAfterMs?: number;
  firstBatch?: number;
}

/**
 * Publishes `batches` batches; reading i of the stream goes to device i % devices with that
 * device's next seq (contiguous from 1). Resends any batch not acked within resendAfterMs.
 */
export class ResendingPublisher {
  readonly opts: PublisherOptions;
  readonly acks = new Map<number, Ack>();
  resends = 0;
  published = 0;
  #client: MqttClient | undefined;
  #payloads = new Map<number, string>();
  #sentAt = new Map<number, number>();
  #next: number;
  #timer: NodeJS.Timeout | undefined;
  #done!: () => void;
  readonly done: Promise<void>;
  readonly expected = new Map<string, number>(); // device → highest seq

  constructor(opts: PublisherOptions) {
    this.opts = opts;
    this.#next = opts.firstBatch ?? 1;
    this.done = new Promise((r) => (this.#done = r));
    const seqs = new Array<number>(opts.devices).fill(0);
    let n = 0;
    for (let b = 0; b < opts.batches; b++) {
      const readings: Reading[] = [];
      for (let i = 0; i < opts.readingsPerBatch; i++, n++) {
        const d = n % opts.devices;
        const seq = ++seqs[d]!;
        readings.push(climate(`dev-${d}`, seq));
        this.expected.set(`dev-${d}`, seq);
      }
      const batch = this.#next + b;
      this.#payloads.set(batch, batchOf(opts.gateway, batch, readings));
    }
  }

  get total(): number {
    return this.opts.batches * this.opts.readingsPerBatch;
  }

  get acked(): number {
    return this.acks.size;
  }

  async start(): Promise<this> {
    const c = await connectAnonymous(this.opts.url);
    this.#client = c;
    c.on('message', (_topic, payload) => {
      const ack = checkAck(payload);
      if (!ack || !this.#payloads.has(ack.batch)) return;
      if (!this.acks.has(ack.batch)) this.acks.set(ack.batch, ack);
      this.#sentAt.delete(ack.batch);
      this.#pump();
    });
    await c.subscribeAsync(topics.ack(this.opts.site, this.opts.gateway), { qos: 1 });
    this.#pump();
    this.#timer = setInterval(() => this.#resendLate(), Math.max(50, (this.opts.resendAfterMs ?? 2000) / 4));
    return this;
  }

  #send(batch: number): void {
    this.#sentAt.set(batch, Date.now());
    this.published++;
    this.#client?.publish(topics.up(this.opts.site, this.opts.gateway), this.#payloads.get(batch)!, { qos: 1 });
  }

  #pump(): void {
    const last = (this.opts.firstBatch ?? 1) + this.opts.batches - 1;
    while (this.#sentAt.size < (this.opts.window ?? 20) && this.#next <= last) this.#send(this.#next++);
    if (this.acks.size === this.opts.batches) {
      clearInterval(this.#timer);
      this.#done();
    }
  }

  #resendLate(): void {
    const now = Date.now();
    for (const [batch, at] of this.#sentAt) {
      if (now - at >= (this.opts.resendAfterMs ?? 2000)) {
        this.resends++;
        this.#send(batch);
      }
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#client?.endAsync(true);
  }
}
