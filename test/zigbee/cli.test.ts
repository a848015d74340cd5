// The command line: `testbed sim zstack` listens and speaks MT; `testbed gateway run` refuses a
// missing identity clearly.

import { describe, it, expect } from 'vitest';
import { spawn } from 'node:child_process';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { testbedBin } from '../support/centre.ts';
import { tempDir, waitFor } from '../support/servers.ts';
import { runCommand } from '../support/processes.ts';

describe('testbed sim zstack / gateway run', () => {
  it('sim zstack prints its url, answers an MT SYS ping and keeps its state file', async () => {
    const state = join(tempDir('testbed-zb-cli-'), 'emu.json');
    const proc = spawn(
      process.execPath,
      [testbedBin, 'sim', 'zstack', '--port', '0', '--interval-ms', '0', '--state', state, '--devices', 'leak,door'],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TESTBED_LOG_LEVEL: 'warn' } },
    );
    try {
      let out = '';
      proc.stdout.on('data', (d) => (out += d));
      const info = await waitFor(
        'the url line',
        async () => {
          const line = out.split('\n').find((l) => l.includes('"url"'));
          return line ? (JSON.parse(line) as { url: string; port: number; devices: { ieee: string; model: string }[] }) : undefined;
        },
        20_000,
      );
      expect(info.url).toBe(`tcp://127.0.0.1:${info.port}`);
      expect(info.devices.map((d) => d.model)).toEqual(['Aqara SJCGQ11LM', 'Aqara MCCGQ11LM']);
      // SYS ping: SOF, len 0, cmd0 = SREQ(1)<<5 | SYS(1), cmd1 = 1, fcs.
      const reply = await new Promise<Buffer>((resolve, reject) => {
        const s = createConnection(info.port, '127.0.0.1', () => s.write(Buffer.from([0xfe, 0x00, 0x21, 0x01, 0x20])));
        s.once('data', (d) => {
          s.destroy();
          resolve(d);
        });
        s.once('error', reject);
      });
      // SRSP(3)<<5 | SYS = 0x61, ping, 2 bytes of capabilities.
      expect([...reply.subarray(0, 4)]).toEqual([0xfe, 0x02, 0x61, 0x01]);
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
      expect(existsSync(state)).toBe(true);
    } finally {
      proc.kill('SIGKILL');
    }
  }, 30_000);

  it('gateway run without a site id fails with a clear message', async () => {
    const result = await runCommand(process.execPath, [testbedBin, 'gateway', 'run'], {
      env: { TESTBED_DATA_DIR: tempDir('testbed-zb-cli-'), TESTBED_LOG_LEVEL: 'warn', TESTBED_GATEWAY_SITE: '', TESTBED_GATEWAY_ID: '' },
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/TESTBED_GATEWAY_SITE must be set/);
  }, 30_000);
});
