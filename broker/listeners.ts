// The three transports. aedes only needs a duplex stream per connection, so each listener is a
// few lines of node:net, node:tls or ws (no aedes-server-factory: it pins ws 7 and adds nothing
// we use). Each binds, reports the port it actually got (port 0 → ephemeral), and turns a bind
// failure into a message that names the address and the setting to change.

import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { readFileSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import { WebSocketServer, createWebSocketStream } from 'ws';

/** Called for each accepted connection with the stream for aedes and the peer's address. */
export type OnConnection = (stream: Duplex, remote: string, req?: IncomingMessage) => void;

export interface Listener {
  name: string;
  port: number;
  close(): Promise<void>;
}

export class BindError extends Error {
  override name = 'BindError';
}

function listen(server: NetServer | HttpServer, name: string, host: string, port: number, setting: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      const why = err.code === 'EADDRINUSE' ? 'the port is already in use' : err.code === 'EACCES' ? 'permission denied' : err.message;
      reject(
        new BindError(`broker: cannot listen for MQTT over ${name} on ${host}:${port}: ${why}. Change ${setting} (0 picks a free port).`, {
          cause: err,
        }),
      );
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      const addr = server.address();
      if (addr === null || typeof addr === 'string') return reject(new BindError(`broker: ${name} listener has no TCP address`));
      resolve(addr.port);
    });
  });
}

const closeServer = (server: NetServer | HttpServer) =>
  new Promise<void>((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
  });

export async function listenTcp(host: string, port: number, onConnection: OnConnection): Promise<Listener> {
  const server = createNetServer((socket: Socket) => onConnection(socket, socket.remoteAddress ?? 'unknown'));
  const bound = await listen(server, 'TCP', host, port, 'TESTBED_MQTT_PORT');
  return { name: 'tcp', port: bound, close: () => closeServer(server) };
}

export async function listenTls(
  host: string,
  port: number,
  certFile: string,
  keyFile: string,
  onConnection: OnConnection,
): Promise<Listener> {
  const read = (file: string, setting: string) => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new Error(`broker: cannot read ${setting} '${file}': ${(err as Error).message}`, { cause: err });
    }
  };
  const cert = read(certFile, 'TESTBED_MQTT_TLS_CERT');
  const key = read(keyFile, 'TESTBED_MQTT_TLS_KEY');
  let server: TlsServer;
  try {
    server = createTlsServer({ cert, key, minVersion: 'TLSv1.2' }, (socket: TLSSocket) =>
      onConnection(socket, socket.remoteAddress ?? 'unknown'),
    );
  } catch (err) {
    throw new Error(`broker: TLS certificate ${certFile} / key ${keyFile} are not usable: ${(err as Error).message}`, { cause: err });
  }
  // A failed handshake (plain MQTT on the TLS port, a port scanner) must not crash the process.
  server.on('tlsClientError', () => {});
  const bound = await listen(server, 'TLS', host, port, 'TESTBED_MQTT_TLS_PORT');
  return { name: 'tls', port: bound, close: () => closeServer(server) };
}

export async function listenWebSocket(host: string, port: number, maxPacketBytes: number, onConnection: OnConnection): Promise<Listener> {
  const http = createHttpServer((_req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain' }).end('MQTT over WebSocket: connect to /mqtt\n');
  });
  // maxPayload bounds one WebSocket message (mqtt.js sends one MQTT packet per message); ws
  // refuses a bigger one from its frame header, before buffering it. +5: MQTT fixed header.
  const wss = new WebSocketServer({ server: http, path: '/mqtt', maxPayload: maxPacketBytes + 5 });
  wss.on('connection', (socket, req) => {
    const stream = createWebSocketStream(socket);
    // Errors surface through aedes (it listens on the stream); this keeps a late one from
    // being an unhandled 'error' event.
    stream.on('error', () => {});
    onConnection(stream, req.socket.remoteAddress ?? 'unknown', req);
  });
  wss.on('error', () => {});
  const bound = await listen(http, 'WebSocket', host, port, 'TESTBED_MQTT_WS_PORT');
  return {
    name: 'ws',
    port: bound,
    close: async () => {
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      http.closeAllConnections();
      await closeServer(http);
    },
  };
}
