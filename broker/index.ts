// The central MQTT broker: aedes (MQTT 3.1.1) behind TCP, optional TLS and WebSocket
// listeners, with per-gateway credentials, a topic ACL, a packet-size cap enforced at the
// parser, a connect-rate limit per address, and a log line plus a counter for every refusal.
//
// Durability is not the broker's job (aedes acks QoS 1 before its pipeline runs): gateways keep
// batches in their outbox until ingest acks them, so a broker restart loses nothing.

import { Aedes, type AuthenticateError, type Client } from 'aedes';
import type { Duplex } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import { parseTopic } from '../devices/contract.ts';
import type { Config } from '../lib/config.ts';
import { logger, type Logger } from '../lib/log.ts';
import { counter, everyValue, gauge } from '../lib/metrics.ts';
import { clientIdRefusal, publishRefusal, retainRefusal, subscribeRefusal, willRefusal } from './acl.ts';
import type { CredentialStore, Principal, ServiceRole } from './credentials.ts';
import { listenTcp, listenTls, listenWebSocket, type Listener } from './listeners.ts';
import { limitPacketSize, PacketTooLargeError } from './packet-limit.ts';
import { ConnectRateLimiter } from './rate-limit.ts';

export {
  CredentialStore,
  gatewayUsername,
  SERVICE_ROLES,
  type Principal,
  type ServiceRole,
  type GatewayRecord,
  type IssuedCredential,
  type GatewayCredential,
  type GatewayDirectory,
} from './credentials.ts';
export { publishRefusal, retainRefusal, subscribeRefusal, willRefusal, filterCovers } from './acl.ts';
export { hashPassword, verifyPassword, randomPassword, GENERATED_SECRET_COST } from './password.ts';
export { BindError } from './listeners.ts';

export interface ServiceAccount {
  username: string;
  password: string;
  role: ServiceRole;
}

export interface BrokerOptions {
  config: Config;
  credentials: CredentialStore;
  /** Service accounts for this process (ingest, monitor, admin); kept in memory only. */
  services?: ServiceAccount[];
  log?: Logger;
}

export interface BrokerHandle {
  /** Ports actually bound (port 0 in the config → an ephemeral port). */
  ports: { tcp: number; tls?: number; ws?: number };
  aedes: Aedes;
  /** Closes every live connection of `username` (e.g. after revoking it); returns how many. */
  disconnect(username: string): number;
  /** Connected (authenticated) clients. */
  clients(): number;
  close(): Promise<void>;
}

/** Our deepest topic is lab/v1/{site}/{gw}/cmd/{name}/reply (7 levels); aedes' default is 100. */
export const MAX_TOPIC_LEVELS = 16;

export type RefusalReason =
  | 'rate_limited'
  | 'client_id_taken'
  | 'client_id_rejected'
  | 'bad_credentials'
  | 'will_denied'
  | 'publish_denied'
  | 'retain_denied'
  | 'subscribe_denied'
  | 'packet_too_large'
  | 'topic_too_deep';

const refusals = counter({
  name: 'testbed_broker_refusals_total',
  help: 'Connections, publishes and subscriptions the broker refused, by reason.',
  labelNames: ['reason'] as const,
  known: {
    reason: everyValue<RefusalReason>({
      rate_limited: true,
      client_id_taken: true,
      client_id_rejected: true,
      bad_credentials: true,
      will_denied: true,
      publish_denied: true,
      retain_denied: true,
      subscribe_denied: true,
      packet_too_large: true,
      topic_too_deep: true,
    }),
  },
});
const clientsGauge = gauge({ name: 'testbed_broker_clients', help: 'Clients connected to the broker (authenticated).' });
/** Every running broker in this process, so the gauge is right when tests run several. */
const running = new Set<Aedes>();
const updateClientsGauge = () => clientsGauge.set([...running].reduce((n, a) => n + a.connectedClients, 0));

/** Marks errors our hooks raised, so aedes' clientError event does not log them twice. */
const REFUSED = Symbol('refused');
function refusedError(message: string): Error {
  return Object.assign(new Error(message), { [REFUSED]: true });
}
function authError(returnCode: 2 | 3 | 4 | 5, message: string): AuthenticateError {
  return Object.assign(refusedError(message), { returnCode }) as unknown as AuthenticateError;
}

interface Connection {
  stream: Duplex;
  remote: string;
  /** Username presented at CONNECT, for refusal logs before (or without) authentication. */
  username?: string;
  willTopic?: string;
}

export async function startBroker(opts: BrokerOptions): Promise<BrokerHandle> {
  const { config, credentials } = opts;
  const log = opts.log ?? logger('broker');
  for (const s of opts.services ?? []) credentials.setService(s.username, s.password, s.role);

  const limiter = new ConnectRateLimiter(config.mqttConnectsPerMinute);
  const maxBytes = config.mqttMaxPacketBytes;
  const connections = new Map<Client, Connection>();
  // Kept in a WeakMap rather than on the client object: it outlives the connection, because
  // aedes authorizes the will *after* the socket has gone.
  const principals = new WeakMap<Client, Principal>();
  const byUser = new Map<string, Set<Client>>();
  const rateLimited = new WeakSet<Client>();
  const persistentWithoutId = new WeakSet<Client>();
  // Which user holds each client id. MQTT lets a CONNECT with an existing client id take over
  // that session: it kicks the connected client and, with clean=false, inherits its queued
  // messages. Without this, any gateway could knock another offline or read its queued acks by
  // borrowing its client id. A clean session's claim ends with its connection; a persistent
  // session's claim lasts as long as aedes keeps the session (this process: in-memory store).
  const clientIds = new Map<string, { username: string; client: Client | null; clean: boolean }>();
  let closing = false;
  let parserGuardWarned = false;

  function refuse(reason: RefusalReason, client: Client | null, detail: string, topic?: string): void {
    refusals.inc({ reason });
    const c = client ? connections.get(client) : undefined;
    const username = (client && principals.get(client)?.username) ?? c?.username;
    log.warn({ reason, detail, username, clientId: client?.id ?? undefined, remote: c?.remote, topic }, 'refused');
  }

  const aedes = new Aedes({
    maxTopicLevels: MAX_TOPIC_LEVELS,

    // Counts the attempt against its address. An address over its allowance is not cut off
    // here (that would close the socket without a CONNACK, which clients report as a bare
    // "connection lost"): it is refused in authenticate, before any scrypt, with CONNACK 3
    // "server unavailable", the 3.1.1 code for "come back later".
    preConnect(client, packet, cb) {
      const c = connections.get(client);
      if (c) {
        c.username = packet.username;
        c.willTopic = packet.will?.topic;
      }
      if (!limiter.admit(c?.remote ?? 'unknown')) rateLimited.add(client);
      // aedes would invent an id for it; the spec says refuse ([MQTT-3.1.3-8]): a persistent
      // session needs a name the client can come back with.
      if (packet.clientId === '' && !packet.clean) persistentWithoutId.add(client);
      cb(null, true);
    },

    authenticate(client, username, password, cb) {
      if (rateLimited.has(client)) {
        refuse(
          'rate_limited',
          client,
          `more than ${config.mqttConnectsPerMinute} connection attempts per minute from this address (TESTBED_MQTT_CONNECTS_PER_MINUTE)`,
        );
        return cb(authError(3, 'too many connection attempts'), false);
      }
      if (persistentWithoutId.has(client)) {
        refuse('client_id_rejected', client, 'a zero-length client id needs clean session 1 (MQTT 3.1.1, 3.1.3-8)');
        return cb(authError(2, 'identifier rejected'), false);
      }
      credentials.verify(username ?? '', password ? password.toString('utf8') : '').then(
        (principal) => {
          if (!principal) {
            refuse(
              'bad_credentials',
              client,
              username ? `wrong password, or unknown or revoked user '${username}'` : 'no username or password',
            );
            return cb(authError(5, 'not authorized'), false);
          }
          const willTopic = connections.get(client)?.willTopic;
          if (willTopic !== undefined) {
            const why = willRefusal(principal, willTopic);
            if (why) {
              principals.set(client, principal);
              refuse('will_denied', client, why, willTopic);
              return cb(authError(5, 'will not allowed'), false);
            }
          }
          const idWhy = clientIdRefusal(principal, client.id);
          if (idWhy) {
            principals.set(client, principal);
            refuse('client_id_rejected', client, idWhy);
            return cb(authError(2, 'identifier rejected'), false);
          }
          const held = clientIds.get(client.id);
          if (held && held.username !== principal.username) {
            principals.set(client, principal);
            refuse('client_id_taken', client, `client id '${client.id}' belongs to a session of ${held.username}`);
            return cb(authError(2, 'identifier rejected'), false);
          }
          principals.set(client, principal);
          if (!client.closed) {
            clientIds.set(client.id, { username: principal.username, client, clean: client.clean });
            let set = byUser.get(principal.username);
            if (!set) {
              set = new Set();
              byUser.set(principal.username, set);
            }
            set.add(client);
          }
          if (principal.type === 'gateway') {
            try {
              credentials.touch(principal.username);
            } catch (err) {
              // Last-seen is bookkeeping; a busy database must not refuse a valid gateway.
              log.warn({ err, username: principal.username }, 'could not record last seen');
            }
          }
          cb(null, true);
        },
        (err: unknown) => {
          log.error({ err, username }, 'credential check failed');
          cb(authError(3, 'credential store unavailable'), false);
        },
      );
    },

    authorizePublish(client, packet, cb) {
      if (!client) {
        // Only wills of clients of a dead cluster node arrive without a client; each was checked
        // against willRefusal when its client connected, and a will is always a `state` topic.
        const t = parseTopic(packet.topic);
        if (t && t.channel === 'state' && t.rest.length === 0) return cb(null);
        refuse('publish_denied', null, 'publish without a client', packet.topic);
        return cb(refusedError('publish without a client'));
      }
      const principal = principals.get(client);
      if (!principal) {
        refuse('publish_denied', client, 'not authenticated', packet.topic);
        return cb(refusedError('not authenticated'));
      }
      // Normally unreachable: the parser guard refuses the packet before it is buffered. Kept
      // so that the limit holds even if that guard could not be installed (see packet-limit.ts).
      const size = typeof packet.payload === 'string' ? Buffer.byteLength(packet.payload) : packet.payload.length;
      if (size > maxBytes) {
        refuse('packet_too_large', client, `payload of ${size} bytes exceeds ${maxBytes} (TESTBED_MQTT_MAX_PACKET_BYTES)`, packet.topic);
        return cb(refusedError('payload too large'));
      }
      const why = publishRefusal(principal, packet.topic);
      if (why) {
        // MQTT 3.1.1 has no negative PUBACK: aedes closes the connection on this error, which is
        // what we want from a gateway writing outside its own topics.
        refuse('publish_denied', client, why, packet.topic);
        return cb(refusedError(why));
      }
      const retainWhy = packet.retain ? retainRefusal(principal, packet.topic) : null;
      if (retainWhy) {
        refuse('retain_denied', client, retainWhy, packet.topic);
        return cb(refusedError(retainWhy));
      }
      cb(null);
    },

    authorizeSubscribe(client, sub, cb) {
      const principal = principals.get(client);
      const why = principal ? subscribeRefusal(principal, sub.topic) : 'not authenticated';
      if (why) {
        // Negate (SUBACK 0x80) rather than disconnect: a refused filter is a configuration
        // error worth seeing on the client, not a reason to drop its other subscriptions.
        refuse('subscribe_denied', client, why, sub.topic);
        return cb(null, null);
      }
      cb(null, sub);
    },
  });
  await aedes.listen();
  running.add(aedes);

  aedes.on('client', updateClientsGauge);
  aedes.on('clientDisconnect', updateClientsGauge);
  const onClientError = (client: Client, err: Error) => {
    if ((err as Error & { [REFUSED]?: boolean })[REFUSED] || err instanceof PacketTooLargeError) return;
    if (/too many levels/.test(err.message)) {
      refuse('topic_too_deep', client, `${err.message} (limit ${MAX_TOPIC_LEVELS})`);
      return;
    }
    log.debug(
      { err: err.message, clientId: client?.id ?? undefined, remote: client ? connections.get(client)?.remote : undefined },
      'client error',
    );
  };
  aedes.on('clientError', onClientError);
  aedes.on('connectionError', onClientError);

  function onConnection(stream: Duplex, remote: string, req?: IncomingMessage): void {
    if (closing) {
      stream.destroy();
      return;
    }
    const client = aedes.handle(stream, req);
    connections.set(client, { stream, remote });
    const guarded = limitPacketSize(client, maxBytes, (err) =>
      refuse('packet_too_large', client, `${err.message} (TESTBED_MQTT_MAX_PACKET_BYTES)`),
    );
    if (!guarded && !parserGuardWarned) {
      parserGuardWarned = true;
      log.warn('aedes internals changed: the early packet-size guard is off; oversize publishes are refused only after buffering');
    }
    stream.once('close', () => {
      connections.delete(client);
      const held = client.id ? clientIds.get(client.id) : undefined;
      if (held && held.client === client) {
        if (held.clean) clientIds.delete(client.id);
        else held.client = null;
      }
      const username = principals.get(client)?.username;
      const set = username ? byUser.get(username) : undefined;
      if (set) {
        set.delete(client);
        if (set.size === 0) byUser.delete(username!);
      }
    });
  }

  const listeners: Listener[] = [];
  try {
    listeners.push(await listenTcp(config.mqttHost, config.mqttPort, onConnection));
    if (config.mqttTlsCert && config.mqttTlsKey) {
      listeners.push(await listenTls(config.mqttHost, config.mqttTlsPort, config.mqttTlsCert, config.mqttTlsKey, onConnection));
    } else if (config.mqttTlsCert || config.mqttTlsKey) {
      throw new Error('broker: TLS needs both TESTBED_MQTT_TLS_CERT and TESTBED_MQTT_TLS_KEY; only one is set');
    }
    if (config.mqttWsPort > 0) listeners.push(await listenWebSocket(config.mqttHost, config.mqttWsPort, maxBytes, onConnection));
  } catch (err) {
    await Promise.all(listeners.map((l) => l.close()));
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    running.delete(aedes);
    limiter.stop();
    throw err;
  }

  const ports: BrokerHandle['ports'] = { tcp: listeners[0]!.port };
  for (const l of listeners) if (l.name === 'tls' || l.name === 'ws') ports[l.name] = l.port;
  log.info({ host: config.mqttHost, ports, maxPacketBytes: maxBytes, connectsPerMinute: config.mqttConnectsPerMinute }, 'broker listening');

  let closed: Promise<void> | undefined;
  return {
    ports,
    aedes,
    disconnect(username) {
      const set = byUser.get(username);
      if (!set) return 0;
      const clients = [...set];
      byUser.delete(username);
      for (const client of clients) client.close();
      if (clients.length) log.info({ username, connections: clients.length }, 'disconnected');
      return clients.length;
    },
    clients: () => aedes.connectedClients,
    close() {
      closed ??= (async () => {
        closing = true;
        // Stop accepting first; server.close() then resolves once the connections are gone.
        const listenersClosed = Promise.all(listeners.map((l) => l.close()));
        await new Promise<void>((resolve) => aedes.close(() => resolve()));
        // aedes.close() only closes clients that finished CONNECT; half-open ones go here.
        for (const { stream } of connections.values()) stream.destroy();
        await listenersClosed;
        running.delete(aedes);
        updateClientsGauge();
        limiter.stop();
        log.info('broker closed');
      })();
      return closed;
    },
  };
}
