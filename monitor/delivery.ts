// Where alert events go: MQTT `lab/v1/{site}/alerts` (QoS 1), server-sent events, and webhooks.
//
// Webhooks are durable: each event is queued per webhook in monitor.sqlite first, then POSTed as
// JSON with `X-Testbed-Event` (the event id, for idempotent receivers) and, when the webhook has
// a secret, `X-Testbed-Signature: sha256=<HMAC of the body>`. A non-2xx answer, a timeout or a
// refused connection is retried with exponential backoff (1 s doubling, at most 5 min between
// tries) up to `maxAttempts`, across restarts; then it is marked failed and logged.

import { createHmac } from 'node:crypto';
import { backoffDelayMs } from '../lib/retry.ts';
import type { Logger } from '../lib/log.ts';
import type { MonitorDb } from './db.ts';
import type { AlertEvent } from './alerts.ts';

export interface Webhook {
  id: number;
  url: string;
  sites: string[] | null;
  hasSecret: boolean;
  createdAt: number;
}

export function eventBody(e: AlertEvent): string {
  return JSON.stringify({ event: { id: e.id, type: e.type, at: e.at, actor: e.actor }, alert: e.alert });
}

/** Whose a live stream is, and how to end it. */
export interface StreamOwner {
  tokenId?: string | null | undefined;
  userId?: string | undefined;
  end: () => void;
}

/** Live SSE subscribers, each with the token and user it was opened with. */
export class SseHub {
  readonly #subs = new Map<(e: AlertEvent) => void, StreamOwner | undefined>();

  subscribe(fn: (e: AlertEvent) => void, owner?: StreamOwner): () => void {
    this.#subs.set(fn, owner);
    return () => this.#subs.delete(fn);
  }

  publish(e: AlertEvent): void {
    for (const fn of this.#subs.keys()) fn(e);
  }

  /**
   * Ends the streams opened with a token (revoked) or by a user (disabled), at once: the
   * registry's endSessions hook. A stream keeps its authentication from when it was opened, so
   * without this it would go on delivering alerts to someone who may no longer see them.
   */
  endSessions(who: { tokenId?: string | undefined; userId?: string | undefined }): number {
    let n = 0;
    for (const [fn, o] of this.#subs) {
      if (!o) continue;
      const match = (who.tokenId !== undefined && o.tokenId === who.tokenId) || (who.userId !== undefined && o.userId === who.userId);
      if (!match) continue;
      this.#subs.delete(fn);
      o.end();
      n++;
    }
    return n;
  }

  get size(): number {
    return this.#subs.size;
  }
}

export class Webhooks {
  readonly #db: MonitorDb;
  readonly #log: Logger;
  readonly maxAttempts: number;
  readonly timeoutMs: number;
  readonly minBackoffMs: number;
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #again = false;
  #closed = false;
  delivered = 0;
  failed = 0;

  constructor(db: MonitorDb, log: Logger, opts: { maxAttempts?: number; timeoutMs?: number; minBackoffMs?: number } = {}) {
    this.#db = db;
    this.#log = log;
    this.maxAttempts = opts.maxAttempts ?? 10;
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.minBackoffMs = opts.minBackoffMs ?? 1000;
  }

  start(): void {
    this.#timer = setInterval(() => this.kick(), 500);
    this.#timer.unref();
    this.kick();
  }

  list(): Webhook[] {
    return (this.#db.db.prepare('SELECT * FROM webhooks ORDER BY id').all() as Record<string, unknown>[]).map((r) => ({
      id: Number(r.id),
      url: String(r.url),
      sites: r.sites ? (JSON.parse(String(r.sites)) as string[]) : null,
      hasSecret: r.secret !== null && r.secret !== '',
      createdAt: Number(r.created_at),
    }));
  }

  add(w: { url: string; secret?: string | null | undefined; sites?: string[] | null | undefined }, by: string): Webhook {
    this.#db.db
      .prepare(
        'INSERT INTO webhooks (url, secret, sites, created_by, created_at) VALUES (?, ?, ?, ?, ?) ' +
          'ON CONFLICT (url) DO UPDATE SET secret = excluded.secret, sites = excluded.sites',
      )
      .run(w.url, w.secret ?? null, w.sites ? JSON.stringify(w.sites) : null, by, Date.now());
    return this.list().find((x) => x.url === w.url)!;
  }

  remove(id: number): boolean {
    const n = Number(this.#db.db.prepare('DELETE FROM webhooks WHERE id = ?').run(id).changes);
    this.#db.db.prepare('DELETE FROM webhook_outbox WHERE webhook_id = ? AND delivered_at IS NULL').run(id);
    return n > 0;
  }

  /** Queues the event for every webhook whose sites include its site. */
  enqueue(e: AlertEvent): void {
    const hooks = this.list().filter((w) => !w.sites || w.sites.includes(e.alert.site));
    if (hooks.length === 0) return;
    const body = eventBody(e);
    const ins = this.#db.db.prepare('INSERT INTO webhook_outbox (webhook_id, event_id, body, next_at) VALUES (?, ?, ?, ?)');
    const now = Date.now();
    for (const w of hooks) ins.run(w.id, e.id, body, now);
    this.kick();
  }

  pending(): number {
    return Number(
      (
        this.#db.db.prepare('SELECT count(*) AS n FROM webhook_outbox WHERE delivered_at IS NULL AND failed_at IS NULL').get() as {
          n: number;
        }
      ).n,
    );
  }

  kick(): void {
    if (this.#closed) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = true;
    void this.#drain().finally(() => {
      this.#running = false;
      if (this.#again) {
        this.#again = false;
        this.kick();
      }
    });
  }

  async #drain(): Promise<void> {
    const due = this.#db.db
      .prepare(
        'SELECT o.id, o.body, o.attempts, o.event_id, w.url, w.secret FROM webhook_outbox o JOIN webhooks w ON w.id = o.webhook_id ' +
          'WHERE o.delivered_at IS NULL AND o.failed_at IS NULL AND o.next_at <= ? ORDER BY o.id LIMIT 100',
      )
      .all(Date.now()) as { id: number; body: string; attempts: number; event_id: number; url: string; secret: string | null }[];
    await Promise.all(due.map((d) => this.#send(d)));
  }

  async #send(d: { id: number; body: string; attempts: number; event_id: number; url: string; secret: string | null }): Promise<void> {
    const headers: Record<string, string> = { 'content-type': 'application/json', 'x-testbed-event': String(d.event_id) };
    if (d.secret) headers['x-testbed-signature'] = `sha256=${createHmac('sha256', d.secret).update(d.body).digest('hex')}`;
    let error: string | null = null;
    try {
      const res = await fetch(d.url, { method: 'POST', headers, body: d.body, signal: AbortSignal.timeout(this.timeoutMs) });
      await res.arrayBuffer().catch(() => undefined);
      if (!res.ok) error = `HTTP ${res.status}`;
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      error = `${e.name}: ${e.cause?.code ?? e.message}`;
    }
    if (this.#closed) return;
    const attempts = d.attempts + 1;
    if (error === null) {
      this.#db.db.prepare('UPDATE webhook_outbox SET delivered_at = ?, attempts = ? WHERE id = ?').run(Date.now(), attempts, d.id);
      this.delivered++;
      return;
    }
    if (attempts >= this.maxAttempts) {
      this.#db.db
        .prepare('UPDATE webhook_outbox SET failed_at = ?, attempts = ?, last_error = ? WHERE id = ?')
        .run(Date.now(), attempts, error, d.id);
      this.failed++;
      this.#log.warn({ url: d.url, event: d.event_id, attempts, error }, 'webhook delivery given up');
      return;
    }
    const delay = backoffDelayMs(attempts - 1, { minMs: this.minBackoffMs, maxMs: 300_000, jitter: false });
    this.#db.db
      .prepare('UPDATE webhook_outbox SET attempts = ?, next_at = ?, last_error = ? WHERE id = ?')
      .run(attempts, Date.now() + delay, error, d.id);
    this.#log.debug({ url: d.url, event: d.event_id, attempts, error, retryInMs: delay }, 'webhook delivery failed; will retry');
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
  }
}
