// What the ingest pipeline is given (PipelineOptions) and what it reports (PipelineStats).

import type { Ack, Reading } from '../devices/index.ts';
import type { Logger } from '../lib/log.ts';
import type { DeadLetterStore } from './dead-letters.ts';
import type { IngestQuotas, Quarantine } from './quotas.ts';
import type { ReadingStore } from './types.ts';

/** The registry's seam: extra tags for a reading (home, participant pseudonym…), or a Quarantine. */
export type Enrich = (reading: Reading, site: string, gateway: string) => Record<string, string> | undefined | Quarantine;

export interface PipelineOptions {
  store: ReadingStore;
  deadLetters: DeadLetterStore;
  log: Logger;
  publishAck: (site: string, gateway: string, ack: Ack) => void;
  enrich?: Enrich | undefined;
  /**
   * Each reading ingest takes (valid, admitted by identity binding and the device quota, not a
   * duplicate), as soon as it is taken — before the store confirms, so an alert does not wait on
   * the write. Monitoring in the same process listens here instead of judging `up` a second time.
   */
  onAccepted?: ((site: string, gateway: string, reading: Reading, receivedAt: number) => void) | undefined;
  /** Readings per store write (coalesced across messages). */
  maxPoints?: number | undefined;
  /** How long a partial store write waits for more readings, ms. */
  lingerMs?: number | undefined;
  /** Above this many readings waiting for the store, new batches are left unacked (the gateway resends later). */
  maxPending?: number | undefined;
  /** Dedupe window per device, in seqs. */
  dedupeWindow?: number | undefined;
  quotas?: IngestQuotas | undefined;
}

export interface PipelineStats {
  received: number;
  batches: number;
  refusedBatches: number;
  stored: number;
  duplicates: number;
  rejected: number;
  deadLetters: number;
  acks: number;
  /** Batches skipped because too many readings were waiting for the store (not acked: resent later). */
  deferred: number;
  /** Resends dropped because the same batch was still being stored (acked once it is). */
  resendsWhilePending: number;
  pendingReadings: number;
  pendingBatches: number;
  storeErrors: number;
  /** Up messages left unacked because their gateway was over its readings-per-second quota. */
  throttled: number;
  /** Readings quarantined: unknown or foreign device, or beyond the distinct-device quota. */
  quarantined: number;
  /** Device ids remembered across gateways (bounded by the device quota). */
  trackedDevices: number;
}
