// The `testbed` command. Each subcommand starts one role (or all of them: `up`) with the
// configuration from file, environment and flags. Roles are wired here and nowhere else.

import { Command, Option } from 'commander';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadConfig, describeConfig, ConfigError, type Config } from '../lib/config.ts';
import { setLogLevel } from '../lib/log.ts';
import { dataDictionary } from '../devices/index.ts';
import { ApiError } from '../lib/errors.ts';
import type { Actor, Registry, Role } from '../registry/index.ts';
import { registerSimCommands } from './sim.ts';
import { registerGatewayCommands } from './gateway.ts';
import { onShutdown } from './shutdown.ts';
import { registerDashboardCommands } from '../dashboards/cli.ts';

// The roles' modules (broker, ingest, HTTP API, registry, simulators, monitor) are loaded by
// the commands that run them: `testbed gateway run` on a Pi does not carry them (about 60 MB of
// resident memory, measured by bench/gateway.ts).
const registryModule = () => import('../registry/index.ts');
const trialFile = () => import('../registry/trial-file.ts');
const centreRole = () => import('./centre.ts');

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
  const cfg = loadConfig({
    ...(g.config ? { file: g.config } : {}),
    overrides: { ...(g.dataDir ? { dataDir: g.dataDir } : {}), ...overrides },
  });
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
  .option('--sim-history <hours>', 'the simulated pilot starts this many hours ago; that history is sent at once, then it runs live', '24')
  .option(
    '--sim-speed <x>',
    'run the pilot at this speed from now instead of live (×60 = a minute a second; readings then lie in the future)',
  )
  .option('--sim-seed <n>', 'seed of the simulated pilot', '1')
  .action(async (o: { mqttPort?: number; httpPort?: number; sim: boolean; simHistory: string; simSpeed?: string; simSeed: string }) => {
    const cfg = config(portOverrides(o));
    const sim = o.sim
      ? { seed: Number(o.simSeed), backfillHours: Number(o.simHistory), speed: o.simSpeed !== undefined ? Number(o.simSpeed) : undefined }
      : undefined;
    const centre = await (await centreRole()).startCentre(cfg, { roles: ['broker', 'ingest', 'http'], sim });
    onShutdown(centre.close);
  });

program
  .command('broker')
  .description(
    'Run the MQTT broker alone (TCP, TLS when a certificate is configured, WebSocket). Ingest connects with TESTBED_INGEST_PASSWORD.',
  )
  .addOption(portOption('--mqtt-port <port>', 'MQTT port (TESTBED_MQTT_PORT)'))
  .addOption(portOption('--http-port <port>', 'HTTP port for /health and /metrics (TESTBED_HTTP_PORT)'))
  .action(async (o: { mqttPort?: number; httpPort?: number }) => {
    const cfg = config(portOverrides(o));
    if (!cfg.ingestPassword)
      throw new ConfigError('TESTBED_INGEST_PASSWORD must be set when the broker runs alone, so that ingest can log in');
    const centre = await (await centreRole()).startCentre(cfg, { roles: ['broker', 'http'] });
    onShutdown(centre.close);
  });

program
  .command('ingest')
  .description('Run ingest alone: subscribe to every gateway batch on TESTBED_MQTT_URL, store readings (InfluxDB or embedded), ack them.')
  .addOption(portOption('--http-port <port>', 'HTTP port for /health, /metrics and dead letters (TESTBED_HTTP_PORT)'))
  .action(async (o: { httpPort?: number }) => {
    const cfg = config(portOverrides(o));
    if (!cfg.mqttUrl) throw new ConfigError('TESTBED_MQTT_URL must name the broker when ingest runs alone, e.g. mqtt://broker:1883');
    const centre = await (await centreRole()).startCentre(cfg, { roles: ['ingest', 'http'] });
    onShutdown(centre.close);
  });

/** Runs `fn` on the registry (TESTBED_DATABASE_URL, else registry.sqlite in the data dir) as the CLI's actor, then closes it. */
async function withRegistry<T>(fn: (registry: Registry, actor: Actor) => Promise<T>): Promise<T> {
  const cfg = config();
  const { openRegistry, cliActor } = await registryModule();
  const registry = await openRegistry({ databaseUrl: cfg.databaseUrl, dataDir: cfg.dataDir });
  try {
    return await fn(registry, cliActor());
  } finally {
    await registry.db.close();
  }
}

const gateway = program.command('gateway').description('Gateways: provision credentials, list, revoke (in the trial registry).');

gateway
  .command('add')
  .description('Provision a gateway: prints {"username","password"} once. A running broker accepts it at once. A missing site is created.')
  .requiredOption('--site <site>', 'site id (lowercase letters, digits, dashes)')
  .requiredOption('--gateway <gateway>', 'gateway id (lowercase letters, digits, dashes)')
  .option('--rotate', 'issue a new password for an existing gateway')
  .action(async (o: { site: string; gateway: string; rotate?: boolean }) => {
    const { credentials } = await withRegistry((r, actor) =>
      r.createGateway(actor, { siteId: o.site, gateway: o.gateway }, { rotate: Boolean(o.rotate), createSite: true }),
    );
    process.stdout.write(`${JSON.stringify({ username: credentials.username, password: credentials.password })}\n`);
  });

gateway
  .command('list')
  .description('List provisioned gateways (never their passwords).')
  .action(async () => {
    const list = await withRegistry((r, actor) => r.listGateways(actor, { limit: 10_000 }));
    process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
  });

gateway
  .command('revoke')
  .description('Revoke a gateway: its next connect is refused. (POST /api/v1/gateways/{id}/revoke also disconnects it at once.)')
  .requiredOption('--site <site>', 'site id')
  .requiredOption('--gateway <gateway>', 'gateway id')
  .action(async (o: { site: string; gateway: string }) => {
    await withRegistry((r, actor) => r.revokeGateway(actor, `${o.site}.${o.gateway}`));
    process.stderr.write(`revoked ${o.site}/${o.gateway}\n`);
  });

const token = program.command('token').description('API tokens for the HTTP API.');

token
  .command('create')
  .description('Create a user with a role and print an API token for it, once: {"token", "tokenId", "userId", "role", "orgId"}.')
  .requiredOption('--role <role>', 'admin, coordinator, company or researcher')
  .option('--org <org>', 'organisation id (required for coordinator and company)')
  .option('--name <name>', 'display name of the user', '')
  .option('--label <label>', 'what the token is for')
  .action(async (o: { role: string; org?: string; name: string; label?: string }) => {
    const { ROLES } = await registryModule();
    if (!(ROLES as readonly string[]).includes(o.role))
      throw new ConfigError(`--role: expected one of ${ROLES.join(', ')}, got '${o.role}'`);
    const role = o.role as Role;
    const out = await withRegistry(async (r, actor) => {
      const user = await r.createUser(actor, { name: o.name || `${role} (created by ${actor.id})`, role, orgId: o.org ?? null });
      const t = await r.createToken(actor, user.id, { label: o.label ?? 'testbed token create' });
      return { token: t.token, tokenId: t.id, userId: user.id, role, orgId: user.orgId };
    });
    process.stdout.write(`${JSON.stringify(out)}\n`);
  });

const trial = program.command('trial').description('Trials as code: a YAML file with sites, homes, participants, devices and assignments.');

trial
  .command('apply')
  .description('Create or update a whole trial from a YAML file; applying the same file twice changes nothing.')
  .argument('<file>', 'trial file (see examples/trial.yaml)')
  .action(async (file: string) => {
    const { parseTrialFile, applyTrialFile } = await trialFile();
    const parsed = parseTrialFile(readFileSync(file, 'utf8'));
    const report = await withRegistry((r, actor) => applyTrialFile(r, actor, parsed));
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  });

trial
  .command('export')
  .description('Write a trial back as YAML (to stdout, or --out).')
  .option('--trial <id>', 'the trial (optional when there is only one)')
  .option('--out <file>', 'write to a file')
  .action(async (o: { trial?: string; out?: string }) => {
    const { trialFileToYaml, exportTrialFile } = await trialFile();
    const yaml = trialFileToYaml(await withRegistry((r, actor) => exportTrialFile(r, actor, o.trial)));
    if (o.out) writeFileSync(o.out, yaml);
    else process.stdout.write(yaml);
  });

program
  .command('dead-letters')
  .description('Show what ingest refused and why (newest first).')
  .option('--limit <n>', 'how many', '20')
  .option('--gateway <gateway>', 'only this gateway')
  .action(async (o: { limit: string; gateway?: string }) => {
    const { DeadLetterStore } = await import('../ingest/dead-letters.ts');
    const store = new DeadLetterStore(config().dataDir);
    try {
      process.stdout.write(
        `${JSON.stringify(
          {
            total: store.count(),
            byReason: store.countByReason(),
            items: store.list({ limit: Number(o.limit), ...(o.gateway ? { gateway: o.gateway } : {}) }),
          },
          null,
          2,
        )}\n`,
      );
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
    process.stdout.write(`${describeConfig(config())}\n`);
  });

// Virtual gateways of `sim run`, `replay` and `load` are provisioned in the registry like real ones
// (so that a running `testbed up` on the same data dir or database accepts them); one registry
// handle for the whole command, as `load` provisions thousands.
let simRegistry: Promise<Registry> | undefined;
registerSimCommands(program, {
  config: () => config(),
  credentials: async (site: string, gw: string) => {
    simRegistry ??= (async () => {
      const cfg = config();
      return (await registryModule()).openRegistry({ databaseUrl: cfg.databaseUrl, dataDir: cfg.dataDir });
    })();
    const registry = await simRegistry;
    return (
      await registry.createGateway((await registryModule()).cliActor(), { siteId: site, gateway: gw }, { rotate: true, createSite: true })
    ).credentials;
  },
});
registerGatewayCommands(program, { config: (overrides) => config(overrides) });
registerDashboardCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  // Exit once the message is written: stderr to a pipe is asynchronous.
  const fail = (message: string, code: number) => process.stderr.write(message, () => process.exit(code));
  if (err instanceof ConfigError) fail(`testbed: configuration error: ${err.message}\n`, 2);
  else if (err instanceof ApiError) fail(`testbed: ${err.message}\n`, err.status === 409 ? 3 : 1);
  else fail(`testbed: ${(err as Error).message}\n`, 1);
}
