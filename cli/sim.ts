// `testbed sim run`, `testbed replay uci-adl`, `testbed load`: the simulators from the command
// line. Progress goes to stderr once a second; NDJSON goes to --out; without --out, readings are
// published to the broker from the configuration through one virtual gateway per home, whose
// credentials come from ctx.credentials (the CLI provisions them in the credential store).

import { type Command, Option, InvalidArgumentError } from 'commander';
import type { Config } from '../lib/config.ts';
import { logger } from '../lib/log.ts';
import { parseSpeed, builtInScenarios, type Speed } from '../simulators/scenario.ts';
import type { Credentials, Progress } from '../simulators/index.ts';
import { parseInstant } from '../simulators/time.ts';

export interface SimContext {
  config(): Config;
  /** Provisions a virtual gateway and returns its MQTT credentials; needed to publish to a broker. */
  credentials?: Credentials;
}

const speedArg = (v: string): Speed => {
  const s = parseSpeed(v);
  if (s === null) throw new InvalidArgumentError("expected 'max' or a factor > 0 (1 = real time, 60 = a minute a second)");
  return s;
};
const instantArg = (v: string): number => {
  const t = parseInstant(v);
  if (t === null) throw new InvalidArgumentError('expected an ISO 8601 instant with a zone, e.g. 2025-01-06T00:00:00Z');
  return t;
};
const positive =
  (what: string, integer = false) =>
  (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n)))
      throw new InvalidArgumentError(`expected a positive ${integer ? 'whole ' : ''}number (${what})`);
    return n;
  };

function brokerUrl(cfg: Config): string {
  return cfg.mqttUrl || `mqtt://127.0.0.1:${cfg.mqttPort}`;
}

function needCredentials(ctx: SimContext, what: string): Credentials {
  if (!ctx.credentials) {
    throw new Error(
      `${what}: publishing to the broker needs gateway credentials, and this testbed CLI cannot provision them here. Write NDJSON ` +
        `instead with --out FILE, or run it where the credential store is available.`,
    );
  }
  return ctx.credentials;
}

const fmt = (n: number) => n.toLocaleString('en-US');

function progressLine(label: string) {
  return (p: Progress) => {
    const sim = Number.isFinite(p.simTime) ? `${new Date(p.simTime).toISOString().slice(0, 19)}Z` : '—';
    const mqtt = p.acked !== undefined ? `, acked ${fmt(p.acked)}, pending ${fmt(p.pending ?? 0)}` : '';
    process.stderr.write(
      `${label}: ${fmt(p.readings)} readings${p.malformed ? ` (+${p.malformed} malformed)` : ''}, sim time ${sim}, ` +
        `${fmt(p.rate)}/s${mqtt}\n`,
    );
  };
}

function abortOnSignals(): AbortController {
  const abort = new AbortController();
  const stop = () => {
    if (abort.signal.aborted) process.exit(130);
    process.stderr.write('stopping… (again to force)\n');
    abort.abort();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return abort;
}

export function registerSimCommands(program: Command, ctx: SimContext): void {
  const sim = program.command('sim').description('Simulated pilots: virtual homes, residents, devices and faults.');

  sim
    .command('run')
    .description('Run a scenario: write NDJSON (--out), or publish to the broker through one virtual gateway per home.')
    .option('--scenario <name|file>', `built-in scenario name (${builtInScenarios().join(', ')}) or a YAML file`, 'demo')
    .option('--seed <n>', "random seed (default: the scenario's)")
    .addOption(
      new Option('--from <iso>', "start of simulated time, e.g. 2025-01-06T00:00:00Z (default: the scenario's start)").argParser(
        instantArg,
      ),
    )
    .addOption(new Option('--days <d>', "simulated days (default: the scenario's, else 1)").argParser(positive('days')))
    .addOption(
      new Option(
        '--speed <x|max>',
        "1 = real time, 60 = a minute a second, 'max' = as fast as possible (default: the scenario's, else max)",
      ).argParser(speedArg),
    )
    .option('--out <file.ndjson>', 'write NDJSON here ("-" for stdout) instead of publishing to the broker')
    .option('--quiet', 'no progress on stderr')
    .addHelpText(
      'after',
      '\nNDJSON: one {site, gw, home, dev, kind, seq, ts, v, q} a line, in delivery order (= time order, except where a fault says ' +
        'otherwise).\nExample: testbed sim run --scenario demo --seed 7 --from 2025-01-06T00:00:00Z --days 7 --out demo.ndjson\n',
    )
    .action(async (o: { scenario: string; seed?: string; from?: number; days?: number; speed?: Speed; out?: string; quiet?: boolean }) => {
      const cfg = ctx.config();
      const { runScenario } = await import('../simulators/index.ts');
      const abort = abortOnSignals();
      const common = {
        scenario: o.scenario,
        ...(o.seed !== undefined ? { seed: o.seed } : {}),
        ...(o.from !== undefined ? { from: o.from } : {}),
        ...(o.days !== undefined ? { days: o.days } : {}),
        ...(o.speed !== undefined ? { speed: o.speed } : {}),
        signal: abort.signal,
        log: logger('sim'),
        ...(o.quiet ? {} : { onProgress: progressLine('sim') }),
      };
      const result =
        o.out !== undefined
          ? await runScenario({ ...common, out: o.out === '-' ? process.stdout : o.out })
          : await runScenario({ ...common, url: brokerUrl(cfg), credentials: needCredentials(ctx, 'sim run') });
      process.stderr.write(
        `sim: ${result.aborted ? 'stopped' : 'done'}: ${fmt(result.readings)} readings, ${result.malformed} malformed, ` +
          `${(result.wallMs / 1000).toFixed(1)} s, ${fmt(result.rate)} readings/s (seed ${result.seed}, ` +
          `${new Date(result.from).toISOString()} → ${Number.isFinite(result.end) ? new Date(result.end).toISOString() : '…'})\n`,
      );
    });

  const replay = program.command('replay').description('Replay real sensor logs as virtual gateways.');
  replay
    .command('uci-adl')
    .description(
      'Replay a UCI ADL binary-sensor file (OrdonezA_Sensors.txt / OrdonezB_Sensors.txt): one device per sensor, a reading at each ' +
        "event's start (active) and end (inactive).",
    )
    .argument('<file>', 'the *_Sensors.txt file')
    .requiredOption('--home <id>', 'home id, e.g. a (device ids become <home>-<place>-<location>)')
    .option('--site <id>', 'site id', 'uci')
    .option('--gateway <id>', 'gateway id (default uci-<home>)')
    .addOption(
      new Option('--speed <x|max>', "1 = real time, 3600 = an hour a second, 'max' = as fast as possible")
        .default('max')
        .argParser(speedArg),
    )
    .addOption(
      new Option('--from <iso>', 'shift timestamps so that the first event starts here (default: keep the original times)').argParser(
        instantArg,
      ),
    )
    .addOption(
      new Option('--utc-offset <minutes>', "the log's local clock offset from UTC (the homes were in Madrid: CET, 60)")
        .default(60)
        .argParser((v: string) => {
          const n = Number(v);
          if (!Number.isInteger(n) || Math.abs(n) > 840) throw new InvalidArgumentError('expected whole minutes, -840 to 840');
          return n;
        }),
    )
    .option('--out <file.ndjson>', 'write NDJSON here ("-" for stdout) instead of publishing to the broker')
    .option('--quiet', 'no progress on stderr')
    .action(
      async (
        file: string,
        o: { home: string; site: string; gateway?: string; speed: Speed; from?: number; utcOffset: number; out?: string; quiet?: boolean },
      ) => {
        const cfg = ctx.config();
        const { replayUci } = await import('../simulators/index.ts');
        const abort = abortOnSignals();
        const base = {
          file,
          home: o.home,
          site: o.site,
          utcOffsetMin: o.utcOffset,
          speed: o.speed,
          signal: abort.signal,
          log: logger('replay'),
          ...(o.gateway ? { gateway: o.gateway } : {}),
          ...(o.from !== undefined ? { from: o.from } : {}),
          ...(o.quiet ? {} : { onProgress: progressLine('replay') }),
        };
        const result =
          o.out !== undefined
            ? await replayUci({ ...base, out: o.out === '-' ? process.stdout : o.out })
            : await replayUci({ ...base, url: brokerUrl(cfg), credentials: needCredentials(ctx, 'replay uci-adl') });
        const p = result.parse;
        for (const e of p.errors) process.stderr.write(`replay: ${file}:${e.line}: ${e.reason}\n`);
        for (const r of p.outOfOrder)
          process.stderr.write(
            `replay: ${file}:${r.line}: starts ${r.start}, before the row above (${r.previousStart}); replayed in time order\n`,
          );
        const devices = new Set(p.events.map((e) => e.dev)).size;
        process.stderr.write(
          `replay: ${result.aborted ? 'stopped' : 'done'}: ${p.events.length} events from ${devices} sensors → ${fmt(result.readings)} ` +
            `readings; ${p.errors.length} malformed lines, ${p.outOfOrder.length} rows out of order\n`,
        );
        if (p.errors.length) process.exitCode = 1;
      },
    );

  program
    .command('load')
    .description(
      'Load test: many virtual gateways in one process, each with its own outbox and uplink, at an aggregate rate; prints sent/acked ' +
        'readings per second and lag.',
    )
    .addOption(new Option('--homes <n>', 'virtual gateways (one home each)').default(100).argParser(positive('homes', true)))
    .addOption(new Option('--rate <r>', 'aggregate readings per second').default(1000).argParser(positive('rate')))
    .addOption(new Option('--duration <s>', 'seconds of production').default(30).argParser(positive('seconds')))
    .addOption(
      new Option(
        '--connect-rate <n>',
        'gateways started per second (the broker limits connects per address: TESTBED_MQTT_CONNECTS_PER_MINUTE)',
      )
        .default(200)
        .argParser(positive('per second')),
    )
    .option('--anonymous', 'connect without credentials (a broker that allows anonymous clients)')
    .option('--json', 'print the final report as JSON on stdout')
    .action(async (o: { homes: number; rate: number; duration: number; connectRate: number; anonymous?: boolean; json?: boolean }) => {
      const cfg = ctx.config();
      const { runLoad } = await import('../simulators/index.ts');
      const abort = abortOnSignals();
      const report = await runLoad({
        url: brokerUrl(cfg),
        homes: o.homes,
        rate: o.rate,
        durationS: o.duration,
        connectPerSecond: o.connectRate,
        signal: abort.signal,
        log: logger('load'),
        ...(o.anonymous ? {} : { credentials: needCredentials(ctx, 'load') }),
        onProgress: (s) =>
          process.stderr.write(
            `load: t=${s.t}s sent ${fmt(s.sentPerS)}/s acked ${fmt(s.ackedPerS)}/s pending ${fmt(s.pending)} lag ${s.lagMs} ms connected ` +
              `${s.connected}/${o.homes}\n`,
          ),
      });
      const { seconds: _seconds, ...summary } = report;
      if (o.json) process.stdout.write(`${JSON.stringify(report)}\n`);
      process.stderr.write(`load: ${JSON.stringify(summary)}\n`);
    });
}
