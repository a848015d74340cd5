// Running a command to its end, for tests that drive a CLI (ours, Mosquitto's, openssl) and
// check its exit code and output. Long-running children (servers, the testbed roles) start
// through servers.ts and centre.ts, which keep their output for failure messages.

import { spawn } from 'node:child_process';

export interface CommandResult {
  /** The exit code; null when the command was killed (after `timeoutMs`, or by a signal). */
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `command` to its end and resolves with its exit code and output, also when it fails: the
 * tests assert on refusals. Killed with SIGKILL after `timeoutMs`; rejects only when it cannot start.
 */
export function runCommand(
  command: string,
  args: string[],
  opts: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 15_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
