// The fault that counts: `testbed gateway run` (a child process, real herdsman, our emulator)
// streams Zigbee readings into a real centre; the centre goes down, the gateway is killed -9
// during the outage and restarted, then the centre comes back. Every device's seq must be in
// the store exactly once, contiguous from 1: nothing lost at the edge, nothing duplicated.

import { describe, it, expect, afterAll } from 'vitest';
import { DatabaseSync } from 'node:sqlite';
import { join } from 'node:path';
import { ZStackEmulator } from '../../simulators/zstack/emulator.ts';
import { DEFAULT_DEVICES } from '../../simulators/zstack/models.ts';
import { runTestbed, type CliProcess } from '../support/centre.ts';
import { tempDir, waitFor } from '../support/servers.ts';
import { startCentre, storedReadings, byDevice, gatewayEnv, type TestCentre } from '../support/zigbee.ts';
import { sleep } from '../../lib/timeout.ts';

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

function outboxDepth(dir: string): number {
  const db = new DatabaseSync(join(dir, 'outbox.db'), { readOnly: true });
  try {
    return Number((db.prepare('SELECT COUNT(*) AS n FROM outbox_readings').get() as { n: number }).n);
  } finally {
    db.close();
  }
}

describe('gateway kill -9 during a centre outage', () => {
  it("stores every Zigbee device's seq exactly once, contiguous, after the centre outage and a gateway kill -9", async () => {
    const centre: TestCentre = await startCentre('home-k', 'gw-k');
    cleanups.push(() => centre.proc.kill('SIGKILL'));
    const emu = new ZStackEmulator({ statePath: join(tempDir('testbed-zbk-emu-'), 'emu.json'), intervalMs: 200 });
    await emu.start();
    cleanups.push(() => emu.stop());
    const gwDir = tempDir('testbed-zbk-gw-');
    const env = gatewayEnv(centre, gwDir, emu.url, { TESTBED_ZIGBEE_PERMIT_JOIN_S: '120', TESTBED_LOG_LEVEL: 'warn' });
    let gw: CliProcess = await runTestbed(['gateway', 'run'], env, { waitForHttp: false });
    cleanups.push(() => gw.kill('SIGKILL'));

    await waitFor(
      'all 7 devices stored',
      async () => {
        if (gw.proc.exitCode !== null) throw new Error(`gateway exited: ${gw.output().slice(-2000)}`);
        const m = byDevice(storedReadings(centre));
        return DEFAULT_DEVICES.every((d) => (m.get(d.ieee)?.length ?? 0) >= 2);
      },
      90_000,
      250,
    );
    const beforeOutage = new Map([...byDevice(storedReadings(centre))].map(([d, rows]) => [d, Math.max(...rows.map((r) => r.seq))]));

    // 1. The centre goes away (broker, ingest, store); the gateway keeps accepting readings.
    await centre.proc.kill('SIGKILL');
    await sleep(2500);
    // 2. The gateway is killed -9 in the middle of the outage, with a backlog in its outbox.
    const backlog = outboxDepth(gwDir);
    expect(backlog).toBeGreaterThan(10);
    await gw.kill('SIGKILL');
    await sleep(500);
    gw = await runTestbed(['gateway', 'run'], { ...env, TESTBED_ZIGBEE_PERMIT_JOIN_S: '0' }, { waitForHttp: false });
    // The restarted gateway resumes the network and queues new readings during the outage.
    await waitFor(
      'new readings queued by the restarted gateway',
      async () => {
        if (gw.proc.exitCode !== null) throw new Error(`gateway exited: ${gw.output().slice(-2000)}`);
        return outboxDepth(gwDir) > backlog + 20;
      },
      30_000,
      200,
    );
    // 3. The centre comes back on the same ports and data.
    await centre.restart();
    await waitFor(
      'readings after the outage',
      async () => storedReadings(centre).length > [...beforeOutage.values()].reduce((a, b) => a + b, 0) + backlog,
      60_000,
      250,
    );
    // 4. Quiet the devices, let the gateway drain, then count.
    await emu.stop();
    await waitFor('gateway outbox drained', async () => outboxDepth(gwDir) === 0, 60_000, 250);
    const m = byDevice(storedReadings(centre));
    for (const d of DEFAULT_DEVICES) {
      const seqs = (m.get(d.ieee) ?? []).map((r) => r.seq);
      expect(seqs.length, d.model).toBeGreaterThan(beforeOutage.get(d.ieee)!);
      expect(new Set(seqs).size, `${d.model}: no duplicate`).toBe(seqs.length);
      expect(seqs[0], `${d.model}: starts at 1`).toBe(1);
      expect(seqs[seqs.length - 1], `${d.model}: contiguous`).toBe(seqs.length);
    }
    // No new pairing after the kill: the restarted gateway resumed the same network.
    expect(emu.stats().joins).toBe(7);
  }, 240_000);
});
