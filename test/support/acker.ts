// The test acker: a stand-in for the central ingest, which is built concurrently in ingest/.
// It subscribes to every gateway's `up` topic on a real broker, checks each batch with the
// wire contract's checkBatch, records every (gateway, device, seq) it receives in arrival order,
// and publishes the per-batch ack `{batch, stored, duplicates, rejected}` to the gateway's ack
// topic — exactly what ingest does after its store confirmed the write. paused() models an
// ingest that is down: batches are neither recorded nor acked.

import { connect, type MqttClient } from 'mqtt';
import { checkBatch, parseTopic, topics, type Ack, type GatewayState } from '../../devices/contract.ts';

export interface TestAcker {
  /** `${gw}|${dev}` → seqs in the order they arrived (duplicates included). */
  arrivals: Map<string, number[]>;
  /** Last state message per gateway (birth / will / graceful offline). */
  states: Map<string, GatewayState>;
  counts: {
    batches: number;
    readings: number;
    unique: number;
    duplicates: number;
    rejected: number;
    badBatches: number;
    acksSent: number;
    resentBatches: number;
    batchMismatches: number;
  };
  /** Largest batch seen, in readings. */
  maxBatchReadings: number;
  pause(): void;
  resume(): void;
  /** Resolves once subscribed on the current connection. */
  subscribed(): Promise<void>;
  /** Seqs 1..upTo of a device that never arrived. */
  missing(gw: string, dev: string, upTo: number): number[];
  close(): Promise<void>;
}

export async function startAcker(brokerPort: number, opts: { reconnectPeriodMs?: number } = {}): Promise<TestAcker> {
  const arrivals = new Map<string, number[]>();
  const seen = new Map<string, Set<number>>();
  const states = new Map<string, GatewayState>();
  const counts = {
    batches: 0,
    readings: 0,
    unique: 0,
    duplicates: 0,
    rejected: 0,
    badBatches: 0,
    acksSent: 0,
    resentBatches: 0,
    batchMismatches: 0,
  };
  /** `${gw}#${batch}` → its readings as JSON: a batch number must always carry the same readings. */
  const contents = new Map<string, string>();
  let paused = false;
  let isSubscribed = false;
  let waiters: (() => void)[] = [];
  const acker: TestAcker = {
    arrivals,
    states,
    counts,
    maxBatchReadings: 0,
    pause: () => {
      paused = true;
    },
    resume: () => {
      paused = false;
    },
    subscribed: () => (isSubscribed ? Promise.resolve() : new Promise<void>((r) => waiters.push(r))),
    missing(gw, dev, upTo) {
      const got = seen.get(`${gw}|${dev}`) ?? new Set<number>();
      const out: number[] = [];
      for (let s = 1; s <= upTo; s++) if (!got.has(s)) out.push(s);
      return out;
    },
    close: async () => {
      await client.endAsync(true);
    },
  };
  const client: MqttClient = connect(`mqtt://127.0.0.1:${brokerPort}`, {
    clientId: `test-acker-${process.pid}-${Math.random().toString(16).slice(2, 8)}`,
    clean: true,
    reconnectPeriod: opts.reconnectPeriodMs ?? 100,
    resubscribe: false,
  });
  client.on('error', () => undefined);
  client.on('close', () => {
    isSubscribed = false;
  });
  client.on('connect', () => {
    client.subscribe({ [topics.allUp]: { qos: 1 }, [topics.allState]: { qos: 1 } }, (err) => {
      if (err) return;
      isSubscribed = true;
      for (const w of waiters.splice(0)) w();
    });
  });
  client.on('message', (topic, payload) => {
    const t = parseTopic(topic);
    if (!t) return;
    if (t.channel === 'state') {
      states.set(t.gateway, JSON.parse(payload.toString()) as GatewayState);
      return;
    }
    if (t.channel !== 'up' || paused) return;
    const check = checkBatch(payload, t.gateway);
    if (!check.ok) {
      counts.badBatches++;
      return;
    }
    counts.batches++;
    const key = `${t.gateway}#${check.batch.batch}`;
    const body = JSON.stringify(check.batch.readings);
    const before = contents.get(key);
    if (before === undefined) contents.set(key, body);
    else {
      counts.resentBatches++;
      if (before !== body) counts.batchMismatches++;
    }
    acker.maxBatchReadings = Math.max(acker.maxBatchReadings, check.batch.readings.length);
    let stored = 0;
    let duplicates = 0;
    for (const r of check.accepted) {
      const key = `${t.gateway}|${r.dev}`;
      let list = arrivals.get(key);
      let set = seen.get(key);
      if (!list || !set) {
        list = [];
        set = new Set();
        arrivals.set(key, list);
        seen.set(key, set);
      }
      list.push(r.seq);
      counts.readings++;
      if (set.has(r.seq)) duplicates++;
      else {
        set.add(r.seq);
        stored++;
      }
    }
    counts.unique += stored;
    counts.duplicates += duplicates;
    counts.rejected += check.rejected.length;
    const ack: Ack = { batch: check.batch.batch, stored, duplicates, rejected: check.rejected.length };
    client.publish(topics.ack(t.site, t.gateway), JSON.stringify(ack), { qos: 1 });
    counts.acksSent++;
  });
  await acker.subscribed();
  waiters = [];
  return acker;
}

/** Seqs of one device in the order of their first arrival. */
export function firstArrivalOrder(seqs: number[]): number[] {
  const seen = new Set<number>();
  const out: number[] = [];
  for (const s of seqs) {
    if (!seen.has(s)) {
      seen.add(s);
      out.push(s);
    }
  }
  return out;
}

export function isIncreasing(xs: number[]): boolean {
  for (let i = 1; i < xs.length; i++) if (xs[i]! <= xs[i - 1]!) return false;
  return true;
}
