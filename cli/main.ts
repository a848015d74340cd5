// The `testbed` command. Each subcommand starts one role (or all of them: `up`) with the
// configuration from file, environment and flags. Roles are wired here and nowhere else.

import { Command, Option } from 'commander';
import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadConfig, describeConfig, ConfigError, type Config } from '../lib/config.ts';
import { logger, setLogLevel } from '../lib/log.ts';
import { dataDictionary } from '../devices/index.ts';
import { CredentialStore } from '../broker/credentials.ts';
import { startCentre } from './centre.ts';
import { registerSimCommands } from './sim.ts';
import { openDeadLetters } from './dead-letters.ts';

const program = new Command();

program
  .name('testbed')
  .description('Living-lab testbed for assisted-living sensors: broker, ingest, gateways, simulators.')
  .version('0.1.0')
  .option('-c, --config <file>', 'config file (YAML or JSON); also TESTBED_CONFIG')
  .option('--data-dir <dir>', 'data folder; also TESTBED_DATA_DIR')
  .showHelpAfterError('(run with --help for usage)')
  .addHelpText('after', '\nEvery setting can also come from the environment or the config file: run `testbed config` to see them all.');

/** Loads configuration with the global flags and per-command overrides applied. */
function config(overrides: Partial<Config> = {}): Config {
  const g = program.opts<{ config?: string; dataDir?: string }>();
  const cfg = loadConfig({ ...(g.config ? { file: g.config } : {}), overrides: { ...(g.dataDir ? { dataDir: g.dataDir } : {}), ...overrides } });
  cfg.dataDir = resolve(cfg.dataDir);
  mkdirSync(cfg.dataDir, { recursive: true });
  setLogLevel(cfg.logLevel);
  return cfg;
}

const portOption = (flags: string, what: string) =>
  new Option(flags, what).argParser((v) => {
    const n = Number(v);
    if (!/^\d+$/.test(v) || n > 65535) throw new ConfigError(`${flags.split(' ')[0]}: expected a port number 0–65535, got '${v}'`);
    return n;
  });

function portOverrides(o: { mqttPort?: number; httpPort?: number }): Partial<Config> {
  return { ...(o.mqttPort !== undefined ? { mqttPort: o.mqttPort } : {}), ...(o.httpPort !== undefined ? { httpPort: o.httpPort } : {}) };
}

program
  .command('up')
  .description('Run every central role in one process on embedded defaults (broker, ingest, HTTP API), with a simulated pilot streaming.')
  .addOption(portOption('--mqtt-port <port>', 'MQTT port (TESTBED_MQTT_PORT)'))
  .addOption(portOption('--http-port <port>', 'HTTP port (TESTBED_HTTP_PORT)'))
  .option('--no-sim', 'do not stream the simulated demo pilot')
  .option('--sim-speed <x>', 'speed of the simulated pilot: 1 = real time, 60 = a minute a second', '1')
  .option('--sim-seed <n>', 'seed of the simulated pilot', '1')
  .action(async (o: { mqttPort?: number; httpPort?: number; sim: boolean; simSpeed: string; simSeed: string }) => {
    const cfg = config(portOverrides(o));
    const centre = await startCentre(cfg, { roles: ['broker', 'ingest', 'http'], sim: o.sim ? { speed: Number(o.simSpeed), seed: Number(o.simSeed) } : undefined });
    onShutdown(centre.close);
  });

program
  .command('broker')
  .description('Run the MQTT broker alone (TCP, TLS when a certificate is configured, WebSocket). Ingest connects with TESTBED_INGEST_PASSWORD.')
  .addOption(portOption('--mqtt-port <port>', 'MQTT port (TESTBED_MQTT_PORT)'))
  .addOption(portOption('--http-port <port>', 'HTTP port for /health and /metrics (TESTBED_HTTP_PORT)'))
  .action(async (o: { mqttPort?: number; httpPort?: number }) => {
    const cfg = config(portOverrides(o));
    if (!cfg.ingestPassword) throw new ConfigError('TESTBED_INGEST_PASSWORD must be set when the broker runs alone, so that ingest can log in');
    const centre = await startCentre(cfg, { roles: ['broker', 'http'] });
    onShutdown(centre.close);
  });

program
  .command('ingest')
  .description('Run ingest alone: subscribe to every gateway batch on TESTBED_MQTT_URL, store readings (InfluxDB or embedded), ack them.')
  .addOption(portOption('--http-port <port>', 'HTTP port for /health, /metrics and dead letters (TESTBED_HTTP_PORT)'))
  .action(async (o: { httpPort?: number }) => {
    const cfg = config(portOverrides(o));
    if (!cfg.mqttUrl) throw new ConfigError('TESTBED_MQTT_URL must name the broker when ingest runs alone, e.g. mqtt://broker:1883');
    const centre = await startCentre(cfg, { roles: ['ingest', 'http'] });
    onShutdown(centre.close);
  });

const gateway = program.command('gateway').description('Gateways: provision credentials, list, revoke.');

gateway
  .command('add')
  .description('Provision a gateway: prints {"username","password"} once. A running broker accepts it at once.')
  .requiredOption('--site <site>', 'site id (lowercase letters, digits, dashes)')
  .requiredOption('--gateway <gateway>', 'gateway id (lowercase letters, digits, dashes)')
  .option('--rotate', 'issue a new password for an existing gateway')
  .action((o: { site: string; gateway: string; rotate?: boolean }) => {
    const store = new CredentialStore(config().dataDir);
    try {
      const cred = store.addGateway(o.site, o.gateway, { rotate: Boolean(o.rotate) });
      process.stdout.write(JSON.stringify({ username: cred.username, password: cred.password }) + '\n');
    } finally {
      store.close();
    }
  });

gateway
  .command('list')
  .description('List provisioned gateways (never their passwords).')
  .action(() => {
    const store = new CredentialStore(config().dataDir);
    try {
      process.stdout.write(JSON.stringify(store.list(), null, 2) + '\n');
    } finally {
      store.close();
    }
  });

gateway
  .command('revoke')
  .description('Revoke a gateway: its next connect is refused.')
  .requiredOption('--site <site>', 'site id')
  .requiredOption('--gateway <gateway>', 'gateway id')
  .action((o: { site: string; gateway: string }) => {
    const store = new CredentialStore(config().dataDir);
    try {
      store.revoke(o.site, o.gateway);
      process.stderr.write(`revoked ${o.site}/${o.gateway}\n`);
    } finally {
      store.close();
    }
  });

program
  .command('dead-letters')
  .description('Show what ingest refused and why (newest first).')
  .option('--limit <n>', 'how many', '20')
  .option('--gateway <gateway>', 'only this gateway')
  .action((o: { limit: string; gateway?: string }) => {
    const store = openDeadLetters(config().dataDir);
    try {
      process.stdout.write(JSON.stringify({ total: store.count(), byReason: store.countByReason(), items: store.list({ limit: Number(o.limit), ...(o.gateway ? { gateway: o.gateway } : {}) }) }, null, 2) + '\n');
    } finally {
      store.close();
    }
  });

program
  .command('dictionary')
  .description('Print the data dictionary (Markdown) generated from the device catalogue.')
  .option('--out <file>', 'write it to a file instead')
  .action((o: { out?: string }) => {
    if (o.out) writeFileSync(o.out, dataDictionary());
    else process.stdout.write(dataDictionary());
  });

program
  .command('config')
  .description('Show every setting: its environment variable, current value and meaning.')
  .action(() => {
    process.stdout.write(describeConfig(config()) + '\n');
  });

registerSimCommands(program, { config: () => config() });

function onShutdown(close: () => Promise<void>): void {
  let closing = false;
  const stop = (signal: string) => {
    if (closing) process.exit(1);
    closing = true;
    logger('cli').info({ signal }, 'shutting down');
    close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger('cli').error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`testbed: configuration error: ${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`testbed: ${(err as Error).message}\n`);
  process.exit(1);
}
