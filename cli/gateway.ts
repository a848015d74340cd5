// `testbed gateway run` (the edge gateway) and `testbed sim zstack` (the Z-Stack coordinator
// emulator). Registered into the existing `gateway` and `sim` commands when they exist.

import { type Command, InvalidArgumentError } from 'commander';
import type { Config } from '../lib/config.ts';
import { logger } from '../lib/log.ts';
import { onShutdown } from './shutdown.ts';
// zigbee-herdsman and the converters are loaded only by the commands that need them.
const MODEL_NAMES =
  'leak: Aqara SJCGQ11LM; fall: Tuya MIR-HE200-TY; bed: Tuya TS0601_bed_presence_sensor; door: Aqara MCCGQ11LM; motion: SONOFF SNZB-03; ' +
  'sos: Tuya TS0215A_sos; climate: SONOFF SNZB-02';

export interface GatewayCliContext {
  config(overrides?: Partial<Config>): Config;
}

const whole =
  (what: string) =>
  (v: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`expected a whole number (${what})`);
    return n;
  };

export function registerGatewayCommands(program: Command, ctx: GatewayCliContext): void {
  const gateway = program.commands.find((c) => c.name() === 'gateway') ?? program.command('gateway').description('Edge gateway.');
  gateway
    .command('run')
    .description(
      'Run the edge gateway: outbox in the data dir, uplink to TESTBED_MQTT_URL, Zigbee (TESTBED_ZIGBEE_PORT), Zigbee2MQTT and vendor ' +
        'MQTT sources. Needs TESTBED_GATEWAY_SITE, _ID, _USERNAME, _PASSWORD.',
    )
    .option('--zigbee-port <path>', 'coordinator: serial path or tcp://host:port (TESTBED_ZIGBEE_PORT)')
    .option('--permit-join <seconds>', 'open a pairing window at start (TESTBED_ZIGBEE_PERMIT_JOIN_S)', whole('seconds'))
    .action(async (o: { zigbeePort?: string; permitJoin?: number }) => {
      const cfg = ctx.config({
        ...(o.zigbeePort !== undefined ? { zigbeePort: o.zigbeePort } : {}),
        ...(o.permitJoin !== undefined ? { zigbeePermitJoinS: o.permitJoin } : {}),
      });
      const { startGateway } = await import('../gateway/gateway.ts');
      const gw = await startGateway(cfg, { log: logger('gateway') });
      onShutdown(() => gw.stop());
    });

  const sim = program.commands.find((c) => c.name() === 'sim') ?? program.command('sim').description('Simulators.');
  sim
    .command('zstack')
    .description(
      `Z-Stack coordinator emulator on tcp://127.0.0.1:<port> for zigbee-herdsman (adapter zstack), with virtual devices ` +
        `(${MODEL_NAMES}). Prints a line {"url": …} on stdout once listening.`,
    )
    .option('--port <port>', 'TCP port (0 = any free port)', whole('port'), 0)
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--interval-ms <ms>', 'base report interval; each model reports every few intervals (0 = only on demand)', whole('ms'), 5000)
    .option('--state <file>', 'persist NV, network and joined devices here (a restart resumes the network)')
    .option('--devices <models>', 'comma-separated models, one device each (default: leak,fall,bed,door,motion,sos,climate)')
    .option('--count <n>', 'n devices cycling through the 7 models, each with its own IEEE address (instead of --devices)', whole('count'))
    .option('--drop-every-s <s>', 'fault: drop the host connection every s seconds', whole('seconds'))
    .option('--reset-after-s <s>', 'fault: reset the coordinator once after s seconds', whole('seconds'))
    .option('--fail-deliveries <n>', 'fault: the first n deliveries to devices fail (MAC no-ack)', whole('count'))
    .option('--silence <ieee...>', 'fault: these devices never report or answer')
    .option('--battery <ieee=pct...>', "fault: set a device's battery (drain)")
    .option(
      '--leave-rejoin-every-s <s>',
      'fault: every s seconds one device leaves and rejoins 2 s later with a new address',
      whole('seconds'),
    )
    .action(
      async (o: {
        port: number;
        host: string;
        intervalMs: number;
        state?: string;
        devices?: string;
        count?: number;
        dropEveryS?: number;
        resetAfterS?: number;
        failDeliveries?: number;
        silence?: string[];
        battery?: string[];
        leaveRejoinEveryS?: number;
      }) => {
        const { ZStackEmulator } = await import('../simulators/zstack/emulator.ts');
        const { DEFAULT_DEVICES, MODELS, fleet } = await import('../simulators/zstack/models.ts');
        const log = logger('zstack-emu');
        if (o.count !== undefined && o.devices) throw new InvalidArgumentError('give --count or --devices, not both');
        const devices =
          o.count !== undefined
            ? fleet(o.count)
            : o.devices
              ? o.devices.split(',').map((name, i) => {
                  const base = DEFAULT_DEVICES.find((d) => d.model === name.trim());
                  if (!MODELS[name.trim()])
                    throw new InvalidArgumentError(`unknown model '${name}' (known: ${Object.keys(MODELS).join(', ')})`);
                  return {
                    model: name.trim(),
                    ieee:
                      base && !o.devices!.split(',').slice(0, i).includes(name)
                        ? base.ieee
                        : `0x00ffee00000${(0x100 + i).toString(16).padStart(5, '0')}`,
                  };
                })
              : DEFAULT_DEVICES;
        const emu = new ZStackEmulator({
          port: o.port,
          host: o.host,
          intervalMs: o.intervalMs,
          devices,
          ...(o.state ? { statePath: o.state } : {}),
          log: (m) => log.info(m),
        });
        await emu.start();
        for (const ieee of o.silence ?? []) emu.silence(ieee);
        for (const spec of o.battery ?? []) {
          const [ieee, pct] = spec.split('=');
          emu.drainBattery(ieee!, Number(pct));
        }
        if (o.failDeliveries) emu.failDeliveries('*', o.failDeliveries);
        const timers: NodeJS.Timeout[] = [];
        if (o.dropEveryS) timers.push(setInterval(() => emu.dropSocket(), o.dropEveryS * 1000));
        if (o.resetAfterS) timers.push(setTimeout(() => emu.reset(), o.resetAfterS * 1000));
        if (o.leaveRejoinEveryS) {
          let i = 0;
          timers.push(
            setInterval(() => {
              const joined = emu.listDevices().filter((d) => d.joined);
              const d = joined[i++ % Math.max(1, joined.length)];
              if (!d) return;
              emu.leave(d.ieee);
              setTimeout(() => emu.rejoin(d.ieee, true), 2000);
            }, o.leaveRejoinEveryS * 1000),
          );
        }
        process.stdout.write(
          `${JSON.stringify({
            url: emu.url,
            port: emu.port,
            devices: emu.listDevices().map((d) => ({ ieee: d.ieee, model: d.modelName, joined: d.joined })),
          })}\n`,
        );
        onShutdown(async () => {
          for (const t of timers) clearInterval(t);
          await emu.stop();
        });
      },
    );
}
