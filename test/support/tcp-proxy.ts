// A small TCP proxy on a free loopback port, for fault tests: put it between a client and a
// server, then cut() the live connections (both sides see the socket die), or pause() it so new
// connections are accepted and closed at once (a link that is down), and resume().

import { createServer, createConnection, type Socket } from 'node:net';

export interface TcpProxy {
  port: number;
  /** Destroys every live connection (client and target side). */
  cut(): void;
  /** Refuses new connections (accepted and closed at once) until resume(). */
  pause(): void;
  resume(): void;
  /** Connections proxied so far and currently live. */
  stats(): { accepted: number; refused: number; live: number; cuts: number };
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  const live = new Set<Socket>();
  let paused = false;
  let accepted = 0;
  let refused = 0;
  let cuts = 0;
  const server = createServer((client) => {
    if (paused) {
      refused++;
      client.destroy();
      return;
    }
    accepted++;
    const upstream = createConnection({ port: targetPort, host: targetHost });
    live.add(client);
    live.add(upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
      live.delete(client);
      live.delete(upstream);
    };
    client.on('error', end);
    upstream.on('error', end);
    client.on('close', end);
    upstream.on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('tcp proxy: no port');
  const cut = () => {
    cuts++;
    for (const s of [...live]) s.destroy();
    live.clear();
  };
  return {
    port: addr.port,
    cut,
    pause: () => {
      paused = true;
    },
    resume: () => {
      paused = false;
    },
    stats: () => ({ accepted, refused, live: live.size / 2, cuts }),
    close: async () => {
      paused = true;
      cut();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
