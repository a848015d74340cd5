// Running a scenario end to end: engine → pacing → NDJSON or MQTT.

import { silentLogger, type Logger } from '../lib/log.ts';
import { simulate, simulationInfo, type Delivery } from './engine.ts';
import { loadScenario, type Scenario, type Speed } from './scenario.ts';
import { drive, ndjsonSink, MqttSink, type Credentials, type Sink, type Item, type OutputOptions, type Progress } from './output.ts';

export interface RunScenarioOptions extends OutputOptions {
  /** A built-in scenario name (`demo`), a YAML file path, or a parsed scenario. */
  scenario: string | Scenario;
  seed?: string | number;
  /** Start, epoch ms (default: the scenario's `start`, else today 00:00 UTC). */
  from?: number;
  /** Days to simulate; null: until aborted. Default: the scenario's `days`, else 1. */
  days?: number | null;
  /** Default: the scenario's `speed` (itself default `max`). */
  speed?: Speed;
  /** Wall-clock time that `from` maps to (see DriveOptions.wallOrigin); default: now. */
  wallOrigin?: number;
  /** MQTT sink tuning. */
  drainTimeoutMs?: number;
  resendAfterMs?: number;
}

export type RunResult = Progress & { aborted: boolean; from: number; end: number; seed: string };

export function toItem(d: Delivery): Item {
  if (d.type === 'reading') return { type: 'reading', at: d.at, reading: d.reading };
  if (d.type === 'malformed')
    return {
      type: 'malformed',
      at: d.at,
      site: d.home.site,
      gw: d.home.gateway,
      line: d.line,
      ...(d.reading ? { reading: d.reading } : {}),
    };
  return { type: 'gateway', at: d.at, site: d.home.site, gw: d.home.gateway, online: d.online };
}

function* items(deliveries: Iterable<Delivery>): Generator<Item> {
  for (const d of deliveries) yield toItem(d);
}

export async function runScenario(opts: RunScenarioOptions): Promise<RunResult> {
  const scenario = typeof opts.scenario === 'string' ? loadScenario(opts.scenario) : opts.scenario;
  const sim = {
    scenario,
    ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
    ...(opts.from !== undefined ? { from: opts.from } : {}),
    ...(opts.days !== undefined ? { days: opts.days } : {}),
  };
  const info = simulationInfo(sim);
  const speed = opts.speed ?? scenario.speed;
  const log = opts.log ?? silentLogger;
  let sink: Sink;
  if (opts.out !== undefined) sink = ndjsonSink(opts.out);
  else {
    if (!opts.url) throw new Error('sim: no output: give an NDJSON file (out) or a broker url with credentials');
    if (!opts.credentials)
      throw new Error('sim: publishing to a broker needs a credentials(site, gateway) callback that provisions each virtual gateway');
    const mqtt = new MqttSink({
      url: opts.url,
      credentials: opts.credentials,
      log,
      ...(opts.drainTimeoutMs !== undefined ? { drainTimeoutMs: opts.drainTimeoutMs } : {}),
      ...(opts.resendAfterMs !== undefined ? { resendAfterMs: opts.resendAfterMs } : {}),
    });
    await mqtt.open(info.homes.map((h) => ({ site: h.site, gw: h.gateway })));
    sink = mqtt;
  }
  log.info(
    {
      scenario: scenario.name,
      seed: info.seed,
      from: new Date(info.from).toISOString(),
      end: Number.isFinite(info.end) ? new Date(info.end).toISOString() : null,
      speed,
      homes: info.homes.length,
      output: opts.out !== undefined ? 'ndjson' : opts.url,
    },
    'sim: starting',
  );
  const result = await drive(items(simulate(sim)), sink, {
    speed,
    simStart: info.from,
    ...(opts.wallOrigin !== undefined ? { wallOrigin: opts.wallOrigin } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
  });
  log.info({ readings: result.readings, malformed: result.malformed, aborted: result.aborted, wallMs: result.wallMs }, 'sim: finished');
  return { ...result, from: info.from, end: info.end, seed: info.seed };
}

export interface StreamScenarioOptions {
  scenario: string | Scenario;
  seed: string | number;
  /** Start of simulated time, epoch ms (`Date.now()` for a live pilot). */
  from: number;
  /**
   * Live pilot with history: simulated time is pinned to the wall clock (speed 1), so whatever
   * lies between `from` and now is sent at once and the rest as it happens.
   */
  live?: boolean;
  /** 1 = real time; 60 = a minute a second; 'max' = as fast as possible. */
  speed: Speed;
  url: string;
  credentials: Credentials;
  log?: Logger;
  signal: AbortSignal;
}

/**
 * Streams a scenario over MQTT until `signal` aborts (for `testbed up`). Every virtual gateway
 * gets its credentials from `credentials`, its own MemoryOutbox and Uplink. Logs progress once a
 * minute. Resolves after the abort, once every virtual gateway has disconnected.
 */
export async function streamScenario(opts: StreamScenarioOptions): Promise<void> {
  const log = opts.log ?? silentLogger;
  let last = 0;
  await runScenario({
    scenario: opts.scenario,
    seed: opts.seed,
    from: opts.from,
    days: null,
    speed: opts.live ? 1 : opts.speed,
    ...(opts.live ? { wallOrigin: opts.from } : {}),
    url: opts.url,
    credentials: opts.credentials,
    log,
    signal: opts.signal,
    onProgress: (p) => {
      if (p.wallMs - last < 60_000) return;
      last = p.wallMs;
      log.info({ readings: p.readings, simTime: new Date(p.simTime).toISOString(), acked: p.acked, pending: p.pending }, 'sim: streaming');
    },
  });
}
