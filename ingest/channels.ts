// Ingest's side of the non-`up` gateway channels: `state`, `health`, `events` and
// `cmd/{name}/reply`. Ingest stores nothing from them (monitoring and the commander use them
// live); it validates each with the same checks monitoring uses (devices/channels.ts) and keeps
// what fails as a dead letter with its reason, so a malformed message is explained, never lost
// silently and never used. Dead letters are written once per event-loop turn, in one durable
// transaction, like the pipeline's.

import {
  checkCommandReply,
  checkEvent,
  checkHealth,
  checkState,
  parseTopic,
  TOPIC_ROOT,
  type ChannelCheck,
  type ChannelRefusal,
} from '../devices/index.ts';
import type { Logger } from '../lib/log.ts';
import { rawPayload, type DeadLetterInput, type DeadLetterStore } from './dead-letters.ts';
import { ingestMetrics } from './metrics.ts';

/** The subscriptions for the channels this module judges (the broker's ACL grants them to ingest). */
export const CHANNEL_FILTERS = [
  `${TOPIC_ROOT}/+/+/state`,
  `${TOPIC_ROOT}/+/+/health`,
  `${TOPIC_ROOT}/+/+/events`,
  `${TOPIC_ROOT}/+/+/cmd/+/reply`,
] as const;

const CHECKS: Record<string, (payload: Buffer) => ChannelCheck<unknown>> = {
  state: checkState,
  health: checkHealth,
  events: checkEvent,
  reply: checkCommandReply,
};

/** Which check a topic needs: a gateway's state, health or events, or a command reply; null for anything else. */
function checkFor(topic: string): ((payload: Buffer) => ChannelCheck<unknown>) | null {
  const t = parseTopic(topic);
  if (!t) return null;
  if ((t.channel === 'state' || t.channel === 'health' || t.channel === 'events') && t.rest.length === 0) return CHECKS[t.channel]!;
  if (t.channel === 'cmd' && t.rest.length === 2 && t.rest[1] === 'reply') return CHECKS.reply!;
  return null;
}

export interface ChannelStats {
  checked: number;
  refused: number;
  /** Dead letters that could not be recorded (the store failed); counted, logged. */
  lost: number;
}

export class ChannelChecker {
  readonly #deadLetters: DeadLetterStore;
  readonly #log: Logger;
  #queue: DeadLetterInput[] = [];
  #scheduled = false;
  #stats: ChannelStats = { checked: 0, refused: 0, lost: 0 };

  constructor(o: { deadLetters: DeadLetterStore; log: Logger }) {
    this.#deadLetters = o.deadLetters;
    this.#log = o.log;
  }

  /**
   * Judges a message if it is on one of these channels and returns true; false leaves it to the
   * pipeline. `retain`: a retained state replayed to ingest on subscribe was judged when it was
   * published, so it is not dead-lettered again on every restart.
   */
  accept(topic: string, payload: Buffer, retain = false): boolean {
    const check = checkFor(topic);
    if (!check) return false;
    if (retain) return true;
    this.#stats.checked++;
    const c = check(payload);
    if (c.ok) return true;
    const t = parseTopic(topic)!;
    this.#stats.refused++;
    this.#queue.push({
      receivedAt: Date.now(),
      site: t.site,
      gateway: t.gateway,
      batch: null,
      index: null,
      class: c.code satisfies ChannelRefusal,
      reason: `${topic.slice(topic.indexOf(t.gateway) + t.gateway.length + 1)}: ${c.reason}`,
      ...rawPayload(payload),
    });
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#flush());
    }
    return true;
  }

  #flush(): void {
    this.#scheduled = false;
    const batch = this.#queue.splice(0);
    if (!batch.length) return;
    try {
      this.#deadLetters.add(batch);
      for (const d of batch) ingestMetrics.deadLetters.inc({ reason: d.class });
    } catch (err) {
      // Nothing waits on these (no ack): counted and logged, and the gateway's next message is judged again.
      this.#stats.lost += batch.length;
      this.#log.error({ err: String(err), count: batch.length }, 'could not record dead letters of gateway channels');
    }
  }

  /** Writes what is queued (before close). */
  flush(): void {
    this.#flush();
  }

  stats(): ChannelStats {
    return { ...this.#stats };
  }
}
