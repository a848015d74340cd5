// Runs the testbed CLI as a child process on free ports, as a user would run it, for end-to-end
// and fault tests: `testbed up`, `testbed broker`, `testbed ingest`.

import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { freePort, waitFor } from './servers.ts';

const root = new URL('../../', import.meta.url).pathname;
export const testbedBin = `${root}bin/testbed.js`;
const execFileP = promisify(execFile);

export interface CliProcess {
  proc: ChildProcess;
  httpPort: number;
  mqttPort: number;
  httpUrl: string;
  output(): string;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** Starts a Node.js script as a child process, keeping the tail of its output for failure messages. */
export function spawnNode(
  script: string,
  args: string[],
  env: Record<string, string>,
  ports: { httpPort?: number; mqttPort?: number } = {},
): CliProcess {
  let log = '';
  const proc = spawn(process.execPath, [script, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout?.on('data', (d) => (log = (log + d).slice(-50_000)));
  proc.stderr?.on('data', (d) => (log = (log + d).slice(-50_000)));
  const httpPort = ports.httpPort ?? 0;
  return {
    proc,
    httpPort,
    mqttPort: ports.mqttPort ?? 0,
    httpUrl: httpPort ? `http://127.0.0.1:${httpPort}` : '',
    output: () => log,
    async kill(signal = 'SIGTERM') {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const done = new Promise<void>((r) => proc.once('exit', () => r()));
      proc.kill(signal);
      await done;
    },
  };
}

export async function runTestbed(
  args: string[],
  env: Record<string, string>,
  opts: { waitForHttp?: boolean; mqttPort?: number; httpPort?: number } = {},
): Promise<CliProcess> {
  const httpPort = opts.httpPort ?? (await freePort());
  const mqttPort = opts.mqttPort ?? (await freePort());
  const handle = spawnNode(
    testbedBin,
    args,
    {
      TESTBED_HTTP_PORT: String(httpPort),
      TESTBED_MQTT_PORT: String(mqttPort),
      TESTBED_MQTT_WS_PORT: '0',
      TESTBED_LOG_LEVEL: 'warn',
      ...env,
    },
    { httpPort, mqttPort },
  );
  const { proc } = handle;
  if (opts.waitForHttp !== false) {
    await waitFor(
      `testbed ${args.join(' ')} on HTTP ${httpPort}`,
      async () => {
        if (proc.exitCode !== null) throw new Error(`testbed ${args.join(' ')} exited ${proc.exitCode}: ${handle.output().slice(-3000)}`);
        const res = await fetch(`${handle.httpUrl}/health`).catch(() => null);
        return res?.ok ?? false;
      },
      30_000,
    );
  }
  return handle;
}

/** Runs a short CLI command and returns its stdout. */
export async function testbed(args: string[], env: Record<string, string>): Promise<string> {
  const { stdout } = await execFileP(process.execPath, [testbedBin, ...args], {
    env: { ...process.env, TESTBED_LOG_LEVEL: 'warn', ...env },
  });
  return stdout;
}
