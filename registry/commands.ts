// Commands to gateways over MQTT: publish `{...payload, id}` on lab/v1/{site}/{gw}/cmd/{name} with
// the broker's `admin` service account, and wait for the gateway's answer on …/cmd/{name}/reply
// carrying the same `id`. No answer within the timeout → ApiError 504 (the gateway is offline, or
// does not implement the command).

import { randomUUID } from 'node:crypto';
import mqtt, { UniqueMessageIdProvider, type MqttClient } from 'mqtt';
import { checkCommandReply, parseTopic, topics, TOPIC_ROOT } from '../devices/index.ts';
import { ApiError, unavailable } from '../lib/errors.ts';

export interface CommanderOptions {
  url: string;
  username: string;
  password: string;
  timeoutMs?: number | undefined;
}

interface Waiting {
  resolve: (reply: unknown) => void;
  timer: NodeJS.Timeout;
}

export class GatewayCommander {
  readonly #o: CommanderOptions;
  #client: Promise<MqttClient> | undefined;
  readonly #waiting = new Map<string, Waiting>();

  constructor(o: CommanderOptions) {
    this.#o = o;
  }

  #connect(): Promise<MqttClient> {
    this.#client ??= (async () => {
      const c = await mqtt.connectAsync(this.#o.url, {
        username: this.#o.username,
        password: this.#o.password,
        clientId: `testbed-orchestrator-${process.pid}-${randomUUID().slice(0, 8)}`,
        clean: true,
        reconnectPeriod: 1000,
        connectTimeout: 5000,
        messageIdProvider: new UniqueMessageIdProvider(),
      });
      c.on('message', (topic, payload) => this.#onReply(topic, payload));
      // Resubscribe on every (re)connect: clean sessions keep nothing.
      const filter = `${TOPIC_ROOT}/+/+/cmd/+/reply`;
      c.on('connect', () => void c.subscribeAsync(filter, { qos: 1 }).catch(() => undefined));
      const granted = await c.subscribeAsync(filter, { qos: 1 });
      if (granted.some((g) => g.qos === 128)) throw new Error(`the broker refused ${filter} to ${this.#o.username}`);
      return c;
    })().catch((err: unknown) => {
      this.#client = undefined;
      throw unavailable('cannot reach the broker with the admin account (the log has the reason)', err);
    });
    return this.#client;
  }

  #onReply(topic: string, payload: Buffer): void {
    const t = parseTopic(topic);
    if (t?.channel !== 'cmd' || t.rest[1] !== 'reply') return;
    // Validated and bounded (devices/channels.ts) before it is used and returned to the API caller;
    // a malformed reply is no reply (ingest dead-letters it), and the caller gets the timeout.
    const c = checkCommandReply(payload);
    if (!c.ok) return;
    const body = c.value;
    const id = body.id;
    if (typeof id !== 'string') return;
    const w = this.#waiting.get(`${t.site}/${t.gateway}/${t.rest[0]}/${id}`);
    if (!w) return;
    clearTimeout(w.timer);
    this.#waiting.delete(`${t.site}/${t.gateway}/${t.rest[0]}/${id}`);
    w.resolve(body);
  }

  /** Sends a command and resolves with the gateway's reply payload. */
  async send(site: string, gateway: string, name: string, payload: Record<string, unknown>): Promise<unknown> {
    const c = await this.#connect();
    const id = randomUUID();
    const key = `${site}/${gateway}/${name}/${id}`;
    const timeoutMs = this.#o.timeoutMs ?? 10_000;
    const reply = new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(key);
        reject(
          new ApiError(
            504,
            `gateway ${site}.${gateway} did not answer ${name} within ${timeoutMs} ms (offline, or it does not implement the command)`,
          ),
        );
      }, timeoutMs);
      this.#waiting.set(key, { resolve, timer });
    });
    reply.catch(() => undefined); // handled by the caller below; avoids an early unhandled rejection
    try {
      await c.publishAsync(topics.cmd(site, gateway, name), JSON.stringify({ ...payload, id }), { qos: 1 });
    } catch (err) {
      clearTimeout(this.#waiting.get(key)?.timer);
      this.#waiting.delete(key);
      throw unavailable('could not publish the command to the broker (the log has the reason)', err);
    }
    return reply;
  }

  async close(): Promise<void> {
    for (const w of this.#waiting.values()) clearTimeout(w.timer);
    this.#waiting.clear();
    const c = await this.#client?.catch(() => undefined);
    await c?.endAsync(true).catch(() => undefined);
  }
}
