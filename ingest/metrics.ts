// Ingest's Prometheus metrics on the process registry (lib/metrics.ts), get-or-create so that
// two ingest instances in one process (tests, `testbed up`) share them.

import { counter, everyValue, gauge, histogram } from '../lib/metrics.ts';
import type { DeadLetterClass } from './dead-letters.ts';

export const ingestMetrics = {
  readings: counter<'result'>({
    name: 'testbed_ingest_readings_total',
    help: 'Readings handled by ingest: stored (new) or duplicate (already confirmed).',
    labelNames: ['result'],
    known: { result: ['stored', 'duplicate'] },
  }),
  deadLetters: counter<'reason'>({
    name: 'testbed_ingest_dead_letters_total',
    help: 'Payloads or readings refused and kept as dead letters, by short reason class.',
    labelNames: ['reason'],
    known: {
      reason: everyValue<DeadLetterClass>({
        invalid_topic: true,
        invalid_json: true,
        invalid_batch: true,
        invalid_reading: true,
        foreign_gateway: true,
        oversize: true,
        store_rejected: true,
        invalid_state: true,
        invalid_health: true,
        invalid_event: true,
        invalid_reply: true,
        unknown_device: true,
        foreign_device: true,
        device_quota: true,
      }),
    },
  }),
  deadLettersDropped: counter<'why'>({
    name: 'testbed_ingest_dead_letters_dropped_total',
    help: "Dead letters deleted: past their gateway's byte cap (oldest first) or past the retention age.",
    labelNames: ['why'],
    known: { why: ['bytes', 'age'] },
  }),
  throttled: counter({
    name: 'testbed_ingest_throttled_batches_total',
    help: 'Up messages left unacked because their gateway was over its readings-per-second quota (the gateway resends them).',
  }),
  batches: counter({ name: 'testbed_ingest_batches_total', help: 'Up messages received from gateways (valid or not).' }),
  acks: counter({ name: 'testbed_ingest_acks_total', help: 'Acks published to gateways.' }),
  spoolDepth: gauge({ name: 'testbed_ingest_spool_depth', help: 'Points spooled on disk and not yet confirmed by InfluxDB.' }),
  storeWriteSeconds: histogram<'store'>({
    name: 'testbed_ingest_store_write_seconds',
    help: 'Latency of one store write (an InfluxDB request, or an embedded-store transaction).',
    labelNames: ['store'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  }),
};
