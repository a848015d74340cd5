// Wires the central roles in one process: broker, ingest, HTTP API, and the simulated pilot.
// `testbed up` runs them all; `testbed broker` and `testbed ingest` run one each (with HTTP for
// health and metrics). Roles talk over MQTT even in one process, exactly as when split.

import { randomBytes } from 'node:crypto';
import type { Config } from '../lib/config.ts';
import { logger } from '../lib/log.ts';
import { startBroker, type BrokerHandle } from '../broker/index.ts';
import { CredentialStore } from '../broker/credentials.ts';
import { startIngest, type IngestHandle } from '../ingest/index.ts';
import { startHttp, type HealthReport } from '../orchestrator/http.ts';
import { streamScenario } from '../simulators/index.ts';

export type Role = 'broker' | 'ingest' | 'http';

export interface Centre {
  broker?: BrokerHandle;
  ingest?: IngestHandle;
  httpPort?: number;
  mqttUrl: string;
  close(): Promise<void>;
}

const started = Date.now();

export async function startCentre(cfg: Config, opts: { roles: Role[]; sim?: { speed: number; seed: number } | undefined }): Promise<Centre> {
  const log = logger('centre');
  const closers: (() => Promise<void> | void)[] = [];
  const close = async () => {
    for (const c of closers.reverse()) await c();
  };
  try {
    let credentials: CredentialStore | undefined;
    let broker: BrokerHandle | undefined;
    // In one process the ingest account needs no configured secret: a fresh random one per run.
    const ingestPassword = cfg.ingestPassword || randomBytes(24).toString('base64url');

    if (opts.roles.includes('broker')) {
      credentials = new CredentialStore(cfg.dataDir);
      const store = credentials;
      closers.push(() => store.close());
      const services: { username: string; password: string; role: 'ingest' | 'monitor' | 'admin' }[] = [{ username: cfg.ingestUsername, password: ingestPassword, role: 'ingest' }];
      if (cfg.monitorPassword) services.push({ username: cfg.monitorUsername, password: cfg.monitorPassword, role: 'monitor' });
      broker = await startBroker({ config: cfg, credentials, services, log: logger('broker') });
      const b = broker;
      closers.push(() => b.close());
    }
    const mqttUrl = cfg.mqttUrl || `mqtt://127.0.0.1:${broker?.ports.tcp ?? cfg.mqttPort}`;

    let ingest: IngestHandle | undefined;
    if (opts.roles.includes('ingest')) {
      ingest = await startIngest({ config: cfg, mqtt: { url: mqttUrl, username: cfg.ingestUsername, password: ingestPassword }, log: logger('ingest') });
      const i = ingest;
      closers.push(() => i.close());
    }

    let httpPort: number | undefined;
    if (opts.roles.includes('http')) {
      const health = (): HealthReport => {
        const roles: HealthReport['roles'] = {};
        let status: HealthReport['status'] = 'ok';
        if (broker) roles.broker = { clients: broker.clients(), ports: broker.ports };
        if (ingest) {
          const s = ingest.stats();
          roles.ingest = { ...s };
          if (!s.connected) status = 'degraded';
        }
        return { status, uptimeS: Math.round((Date.now() - started) / 1000), version: '0.1.0', roles };
      };
      const http = await startHttp({ host: cfg.httpHost, port: cfg.httpPort, health, ...(ingest ? { deadLetters: ingest.deadLetters } : {}), log: logger('http') });
      httpPort = http.port;
      closers.push(() => http.close());
    }

    if (opts.sim && credentials) {
      const store = credentials;
      const abort = new AbortController();
      const streaming = streamScenario({
        scenario: 'demo',
        seed: opts.sim.seed,
        from: Date.now(),
        speed: opts.sim.speed,
        url: mqttUrl,
        // Each run re-provisions the demo gateways: the simulator is their only holder.
        credentials: async (site: string, gw: string) => store.addGateway(site, gw, { rotate: true }),
        log: logger('sim'),
        signal: abort.signal,
      });
      // Pushed last, so it stops first: no virtual gateway publishes into a closing broker.
      closers.push(async () => {
        abort.abort();
        await streaming.catch(() => undefined);
      });
    }

    const lines = [
      'testbed is up',
      broker ? `  MQTT        mqtt://${cfg.mqttHost}:${broker.ports.tcp}${broker.ports.tls ? `   mqtts://…:${broker.ports.tls}` : ''}${broker.ports.ws ? `   ws://…:${broker.ports.ws}/mqtt` : ''}` : `  MQTT        ${mqttUrl} (external)`,
      httpPort !== undefined ? `  HTTP        http://${cfg.httpHost}:${httpPort}   (/health, /metrics, /api/v1/dead-letters, API docs at /docs)` : '',
      `  store       ${cfg.influxUrl ? `InfluxDB ${cfg.influxUrl} db=${cfg.influxDb}` : `embedded SQLite in ${cfg.dataDir}`}`,
      opts.sim ? `  simulation  demo pilot streaming at ×${opts.sim.speed} (seed ${opts.sim.seed}); --no-sim to turn it off` : '',
      broker ? '  add a gateway: testbed gateway add --site <site> --gateway <id>' : '',
    ].filter(Boolean);
    process.stderr.write(lines.join('\n') + '\n');
    log.info({ roles: opts.roles, mqttUrl, httpPort }, 'started');

    return { ...(broker ? { broker } : {}), ...(ingest ? { ingest } : {}), ...(httpPort !== undefined ? { httpPort } : {}), mqttUrl, close };
  } catch (err) {
    await close();
    throw err;
  }
}
