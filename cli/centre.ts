// Wires the central roles in one process: broker, ingest, HTTP API, and the simulated pilot.
// `testbed up` runs them all; `testbed broker` and `testbed ingest` run one each (with HTTP for
// health and metrics). Roles talk over MQTT even in one process, exactly as when split.

import { randomBytes } from 'node:crypto';
import type { Config } from '../lib/config.ts';
import { logger, type Logger } from '../lib/log.ts';
import { counter } from '../lib/metrics.ts';
import { startBroker, type BrokerHandle } from '../broker/index.ts';
import { CredentialStore } from '../broker/credentials.ts';
import { type IngestHandle, startIngest } from '../ingest/index.ts';
import { type HealthReport, type HttpPlugin, startHttp } from '../http/index.ts';
import { CachedProbe } from '../http/health.ts';
import { deadLetterRoutes } from '../ingest/routes.ts';
import {
  openRegistry,
  gatewayDirectory,
  registryApi,
  Attribution,
  GatewayCommander,
  type Actor,
  type Registry,
} from '../registry/index.ts';
import { loadScenario, streamScenario } from '../simulators/index.ts';
import { startMonitor, registerDemoTrial, type MonitorHandle } from '../monitor/index.ts';
import { consolePlugin, CONSOLE_PATH } from '../console/serve.ts';

export type Role = 'broker' | 'ingest' | 'http';

export interface Centre {
  registry: Registry;
  broker?: BrokerHandle;
  ingest?: IngestHandle;
  httpPort?: number;
  mqttUrl: string;
  close(): Promise<void>;
}

const started = Date.now();

/** Provisioning the simulated pilot's gateways is the system's own doing, audited as such. */
const SIM_ACTOR: Actor = { id: 'system:sim', role: 'admin', orgId: null, tokenId: null };

export interface SimOptions {
  seed: number;
  /** Live: pinned to the wall clock, starting `backfillHours` ago (that history is sent at once). */
  backfillHours: number;
  /** Instead of live: this speed from now on (ahead of the clock when > 1). */
  speed?: number | undefined;
}

export async function startCentre(cfg: Config, opts: { roles: Role[]; sim?: SimOptions | undefined }): Promise<Centre> {
  const log = logger('centre');
  const closers: (() => Promise<void> | void)[] = [];
  const close = async () => {
    for (const c of closers.reverse()) await c();
  };
  try {
    // The trial registry: gateway credentials for the broker, attribution for ingest, the API.
    const registry = await openRegistry({ databaseUrl: cfg.databaseUrl, dataDir: cfg.dataDir });
    closers.push(() => registry.db.close());
    log.info({ registry: registry.db.where }, 'registry open');
    const attribution = new Attribution(registry.db, { devices: cfg.ingestDevices });
    attribution.onError = (err) => log.warn({ err: String(err) }, 'registry poll failed; attribution keeps its last snapshot');
    registry.hooks.changed = () => attribution.refresh();

    let credentials: CredentialStore | undefined;
    let broker: BrokerHandle | undefined;
    // In one process the ingest account needs no configured secret: a fresh random one per run.
    const ingestPassword = cfg.ingestPassword || randomBytes(24).toString('base64url');
    const adminPassword = cfg.adminPassword || randomBytes(24).toString('base64url');
    const monitorPassword = cfg.monitorPassword || randomBytes(24).toString('base64url');

    if (opts.roles.includes('broker')) {
      credentials = new CredentialStore(
        gatewayDirectory(registry, (err) => log.warn({ err: String(err) }, 'could not record a gateway as seen')),
      );
      const store = credentials;
      closers.push(() => store.close());
      const services: { username: string; password: string; role: 'ingest' | 'monitor' | 'admin' }[] = [
        { username: cfg.ingestUsername, password: ingestPassword, role: 'ingest' },
        { username: cfg.adminUsername, password: adminPassword, role: 'admin' },
      ];
      services.push({ username: cfg.monitorUsername, password: monitorPassword, role: 'monitor' });
      broker = await startBroker({ config: cfg, credentials, services, log: logger('broker') });
      const b = broker;
      closers.push(() => b.close());
      registry.hooks.disconnect = (username) => b.disconnect(username);
    }
    const mqttUrl = cfg.mqttUrl || `mqtt://127.0.0.1:${broker?.ports.tcp ?? cfg.mqttPort}`;
    // Gateway commands go out with the admin account: known here when the broker runs in this
    // process, or configured (TESTBED_ADMIN_PASSWORD) for a broker elsewhere.
    if (broker || cfg.adminPassword) {
      const commander = new GatewayCommander({
        url: mqttUrl,
        username: cfg.adminUsername,
        password: adminPassword,
        timeoutMs: cfg.commandTimeoutMs,
      });
      registry.hooks.command = (site, gw, name, payload) => commander.send(site, gw, name, payload);
      closers.push(() => commander.close());
    }

    let ingest: IngestHandle | undefined;
    // Monitoring (below) sees the readings ingest takes, handed over in this process.
    let monitor: MonitorHandle | undefined;
    if (opts.roles.includes('ingest')) {
      await attribution.start(cfg.registryPollMs);
      closers.push(() => attribution.stop());
      ingest = await startIngest({
        config: cfg,
        mqtt: { url: mqttUrl, username: cfg.ingestUsername, password: ingestPassword },
        log: logger('ingest'),
        enrich: attribution.enrich,
        onAccepted: (site, gateway, reading, receivedAt) => monitor?.observeReading(site, gateway, reading, receivedAt),
      });
      const i = ingest;
      closers.push(() => i.close());
    }

    // Monitoring beside ingest: it reads the same store, ingest's readings, and gateways' state and
    // health from the broker with its own account.
    if (ingest && (broker || cfg.monitorPassword)) {
      monitor = await startMonitor({
        dataDir: cfg.dataDir,
        mqtt: { url: mqttUrl, username: cfg.monitorUsername, password: monitorPassword },
        store: ingest.store,
        registryDb: registry.db,
        log: logger('monitor'),
        webhooks: cfg.monitorWebhooks
          .split(',')
          .map((u) => u.trim())
          .filter(Boolean),
        utcOffsetMin: cfg.monitorUtcOffsetMin,
        registryPollMs: cfg.registryPollMs,
        pastWindowMs: cfg.monitorPastWindowS * 1000,
        readingsFromIngest: true,
      });
      const m = monitor;
      closers.push(() => m.close());
      // A revoked token or a disabled user ends its open alert streams at once.
      registry.hooks.endSessions = (who) => m.hub.endSessions(who);
    }

    let httpPort: number | undefined;
    if (opts.roles.includes('http')) {
      // Probed at most every 2 s whatever the request rate, each probe bounded (http/health.ts);
      // the probe's error (hosts, ports) goes to the log, /health says which part and since when.
      const logChange = (what: string) => (r: { ok: boolean; reason?: string | undefined }) =>
        r.ok ? log.info(`${what} answers again`) : log.warn({ reason: r.reason }, `${what} does not answer; /health says degraded`);
      const registryProbe = new CachedProbe(
        async () => {
          await registry.db.get('SELECT 1');
        },
        { onChange: logChange('the registry database') },
      );
      const ing = ingest;
      const storeProbe = ing ? new CachedProbe((ms) => ing.store.probe(ms), { onChange: logChange('the readings store') }) : undefined;
      const health = async (): Promise<HealthReport> => {
        const roles: HealthReport['roles'] = {};
        let status: HealthReport['status'] = 'ok';
        const reasons: string[] = [];
        const [reg, store] = await Promise.all([registryProbe.check(), storeProbe?.check()]);
        if (!reg.ok) reasons.push(`registry database (${registry.db.dialect}) unreachable; routes that need it answer 503`);
        if (store && !store.ok) reasons.push(`readings store (${ing?.store.name}) unreachable; routes that read readings answer 503`);
        if (broker) roles.broker = { clients: broker.clients(), ports: broker.ports };
        if (ingest) {
          const s = ingest.stats();
          roles.ingest = { ...s, attribution: attribution.stats() };
          if (!s.connected) reasons.push('ingest is not connected to the broker');
          if (store) roles.ingest.storeReachable = store.ok;
        }
        roles.registry = { database: registry.db.dialect, reachable: reg.ok, checkedAt: reg.checkedAt };
        if (monitor) roles.monitor = monitor.stats();
        if (reasons.length) status = 'degraded';
        return { status, reasons, uptimeS: Math.round((Date.now() - started) / 1000), version: '0.1.0', roles };
      };
      // The registry API is served where the broker runs: revoking a gateway disconnects it there.
      const plugins: HttpPlugin[] = broker ? [registryApi({ registry })] : [];
      if (ingest) plugins.push(deadLetterRoutes(ingest.deadLetters, { scope: (actor) => registry.reach(actor) }));
      if (monitor) plugins.push(monitor.plugin);
      // The web console calls the registry's and monitoring's API with the user's token.
      if (broker) plugins.push(consolePlugin());
      const http = await startHttp({
        host: cfg.httpHost,
        port: cfg.httpPort,
        health,
        authenticate: (token) => registry.authenticate(token),
        audit: (actor, entry) => registry.recordAudit(actor, entry),
        log: logger('http'),
        plugins,
      });
      httpPort = http.port;
      closers.push(() => http.close());
    }

    if (opts.sim && broker) {
      const abort = new AbortController();
      const live = opts.sim.speed === undefined || opts.sim.speed === 1;
      const simFrom = live ? Date.now() - opts.sim.backfillHours * 3600_000 : Date.now();
      // The demo homes as a trial with participants, so monitoring has participant-days to show.
      await registerDemoTrial(registry, loadScenario('demo'), simFrom).catch((err: unknown) =>
        log.warn({ err: String(err) }, 'could not register the demo trial; monitoring shows devices but no participants'),
      );
      const streaming = streamScenario({
        scenario: 'demo',
        seed: opts.sim.seed,
        from: simFrom,
        speed: opts.sim.speed ?? 1,
        live,
        url: mqttUrl,
        // Each run re-provisions the demo gateways: the simulator is their only holder.
        credentials: async (site: string, gw: string) =>
          (await registry.createGateway(SIM_ACTOR, { siteId: site, gateway: gw }, { rotate: true, createSite: true })).credentials,
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
      broker
        ? `  MQTT        mqtt://${cfg.mqttHost}:${broker.ports.tcp}` +
          (broker.ports.tls ? `   mqtts://…:${broker.ports.tls}` : '') +
          (broker.ports.ws ? `   ws://…:${broker.ports.ws}/mqtt` : '')
        : `  MQTT        ${mqttUrl} (external)`,
      httpPort !== undefined
        ? `  HTTP        http://${cfg.httpHost}:${httpPort}   (/health, /metrics, /api/v1/dead-letters, /api/v1/monitor/*, ` +
          `/api/v1/alerts, API docs at /docs)`
        : '',
      httpPort !== undefined && broker
        ? `  console     http://${cfg.httpHost === '0.0.0.0' ? '127.0.0.1' : cfg.httpHost}:${httpPort}${CONSOLE_PATH}   (sign in with a ` +
          `token: testbed token create --role admin)`
        : '',
      `  registry    ${registry.db.dialect === 'postgres' ? `PostgreSQL ${registry.db.where}` : `SQLite ${registry.db.where}`}`,
      `  store       ${cfg.influxUrl ? `InfluxDB ${cfg.influxUrl} db=${cfg.influxDb}` : `embedded SQLite in ${cfg.dataDir}`}`,
      opts.sim
        ? `  simulation  demo pilot: 3 sites, 12 homes, ` +
          (opts.sim.speed && opts.sim.speed !== 1 ? `×${opts.sim.speed}` : `live, with the last ${opts.sim.backfillHours} h sent at once`) +
          ` (seed ${opts.sim.seed}); --no-sim to turn it off`
        : '',
      broker ? '  add a gateway: testbed gateway add --site <site> --gateway <id>; an API token: testbed token create --role admin' : '',
    ].filter(Boolean);
    process.stderr.write(`${lines.join('\n')}\n`);
    log.info({ roles: opts.roles, mqttUrl, httpPort }, 'started');
    // From here on nothing may end the process (docs/security.md, class 2); removed last on close.
    closers.unshift(keepServing(log));

    return {
      registry,
      ...(broker ? { broker } : {}),
      ...(ingest ? { ingest } : {}),
      ...(httpPort !== undefined ? { httpPort } : {}),
      mqttUrl,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

const uncaught = counter<'kind'>({
  name: 'testbed_uncaught_errors_total',
  help: 'Errors no handler caught after start-up, logged by the last-resort handler; the centre kept serving.',
  labelNames: ['kind'],
  known: { kind: ['exception', 'rejection'] },
});

/**
 * The last resort once the centre is up: an error no handler caught is logged and counted, and the
 * process keeps serving. Exiting would give whatever input reaches such a bug the power to stop
 * ingest and alerting for every site, again after each restart if a gateway keeps sending it. Before
 * it is installed (start-up) Node's default stays: a centre that cannot start says why and exits.
 * At most 20 log lines a minute, so a flood of one error cannot flood the log; the counter sees all.
 * Returns the function that removes it.
 */
export function keepServing(log: Logger): () => void {
  let windowStart = 0;
  let logged = 0;
  const handler = (kind: 'exception' | 'rejection') => (err: unknown) => {
    uncaught.inc({ kind });
    const now = Date.now();
    if (now - windowStart > 60_000) {
      windowStart = now;
      logged = 0;
    }
    if (++logged > 20) return;
    const e = err instanceof Error ? { message: err.message, stack: err.stack } : { message: String(err) };
    log.error({ err: e, kind }, `uncaught ${kind}; the centre keeps serving (last-resort handler)`);
  };
  const onException = handler('exception');
  const onRejection = handler('rejection');
  process.on('uncaughtException', onException);
  process.on('unhandledRejection', onRejection);
  return () => {
    process.off('uncaughtException', onException);
    process.off('unhandledRejection', onRejection);
  };
}
