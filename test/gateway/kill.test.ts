// (d) kill -9 the gateway mid-burst. A child process (fixtures/gateway-child.ts) accepts
// readings into a SqliteOutbox and uplinks them to a real Mosquitto; a *test acker*
// (acker.ts, standing in for the central ingest that is built concurrently) records what arrives
// and acks per batch. Just before the kill the acker stops acking (an ingest that is slow), so
// the outbox certainly holds numbered, unacked batches when the process dies. SIGKILL, then
// the same child again on the same outbox file: it continues from the persisted seqs, resends
// the numbered batches first; it is killed once more (acks running this time), and a third run
// drains. The union of what the acker saw must cover every seq
// of every device, 1..PER_DEVICE, contiguously. Duplicates are allowed (ingest dedupes): counted.

import { describe, it, expect, afterEach } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { SqliteOutbox, type Uplink } from '../../gateway/index.ts';
import { startMosquitto, tempDir, waitFor } from '../support/servers.ts';
import { startAcker } from '../support/acker.ts';
import { sleep } from '../../lib/timeout.ts';
import { deviceIds } from '../support/gateway.ts';

const DEVICES = 10;
const PER_DEVICE = 600;
const TOTAL = DEVICES * PER_DEVICE;
const GW = 'gw-kill';

let cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.reverse()) await f();
  cleanup = [];
});

/** The JSON lines fixtures/gateway-child.ts prints. */
type ChildEvent =
  | {
      event: 'start';
      pid: number;
      lastSeqs: Record<string, number>;
      outbox: ReturnType<SqliteOutbox['stats']>;
      unackedBatches: number;
    }
  | { event: 'progress'; accepted: number; firstSeqs: Record<string, number> }
  | { event: 'accepted'; accepted: number; firstSeqs: Record<string, number> }
  | { event: 'drained'; accepted: number; uplink: ReturnType<Uplink['stats']>; outbox: ReturnType<SqliteOutbox['stats']> };

interface Child {
  proc: ChildProcess;
  events: ChildEvent[];
  exited: Promise<number | null>;
  stderr: () => string;
}

function runChild(env: Record<string, string>): Child {
  const proc = spawn(process.execPath, [join(import.meta.dirname, 'fixtures', 'gateway-child.ts')], {
    env: { ...process.env, ...env, TESTBED_LOG_LEVEL: 'silent' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const events: ChildEvent[] = [];
  let buf = '';
  let err = '';
  proc.stdout!.on('data', (d) => {
    buf += d;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.trim()) events.push(JSON.parse(line) as ChildEvent);
    }
  });
  proc.stderr!.on('data', (d) => (err = (err + d).slice(-5000)));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  cleanup.push(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  });
  return { proc, events, exited, stderr: () => err };
}

describe('gateway process', () => {
  it('(d) kill -9 mid-burst, restart on the same outbox: every seq of every device arrives', async () => {
    const broker = await startMosquitto();
    cleanup.push(() => broker.stop());
    const acker = await startAcker(broker.port);
    cleanup.push(() => acker.close());
    const dir = tempDir('testbed-kill-');
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const env = {
      BROKER_PORT: String(broker.port),
      OUTBOX_PATH: join(dir, 'outbox.db'),
      DEVICES: String(DEVICES),
      PER_DEVICE: String(PER_DEVICE),
      GATEWAY: GW,
    };

    // Run 1: wait until ~40 % is accepted, stall the acks briefly, kill -9.
    const first = runChild(env);
    await waitFor(
      'first child to accept 40 %',
      async () => {
        if (first.proc.exitCode !== null) throw new Error(`child exited early: ${first.stderr()}`);
        return first.events.some((e) => e.event === 'progress' && e.accepted >= TOTAL * 0.4);
      },
      30_000,
      10,
    );
    await waitFor('birth message', async () => acker.states.get(GW)?.online === true, 5000);
    acker.pause();
    await sleep(150);
    first.proc.kill('SIGKILL');
    expect(await first.exited).toBeNull();
    expect(first.proc.signalCode).toBe('SIGKILL');
    acker.resume();
    const lastProgress = first.events.filter((e) => e.event === 'progress').at(-1)!;
    expect(first.events.some((e) => e.event === 'accepted')).toBe(false); // it really died mid-burst

    // What the dead process left behind: numbered-but-unacked batches and unbatched readings.
    const left = new SqliteOutbox(env.OUTBOX_PATH);
    const leftStats = left.stats();
    const leftSeqs = left.lastSeqs();
    const leftBatches = left.unackedBatches();
    left.close();
    expect(leftStats.inFlightBatches).toBeGreaterThan(0);
    expect(leftStats.depth).toBeGreaterThan(0);
    const acceptedBeforeKill = [...leftSeqs.values()].reduce((a, b) => a + b, 0);
    expect(acceptedBeforeKill).toBeGreaterThanOrEqual(lastProgress.accepted);
    expect(acceptedBeforeKill).toBeLessThan(TOTAL);
    const seenBeforeRestart = acker.counts.unique;
    // The broker published the dead gateway's last will.
    await waitFor('last will', async () => acker.states.get(GW)?.online === false, 5000);

    // Run 2: same outbox; killed again at ~75 %, this time with the acker running (acks may be
    // on their way: the source of duplicates).
    const second = runChild(env);
    await waitFor(
      'second child to reach 75 %',
      async () => {
        if (second.proc.exitCode !== null) throw new Error(`child exited early: ${second.stderr()}`);
        return second.events.some((e) => e.event === 'progress' && e.accepted + acceptedBeforeKill >= TOTAL * 0.75);
      },
      30_000,
      10,
    );
    const start2 = second.events.find((e) => e.event === 'start')!;
    expect(start2.lastSeqs).toEqual(Object.fromEntries(leftSeqs));
    expect(start2.unackedBatches).toBe(leftBatches.length);
    // It continued from the persisted seqs, not from 1.
    const firstSeqs2 = second.events.filter((e) => e.event === 'progress').at(-1)!.firstSeqs as Record<string, number>;
    for (const [dev, seq] of leftSeqs) if (dev in firstSeqs2) expect(firstSeqs2[dev]).toBe(seq + 1);
    second.proc.kill('SIGKILL');
    await second.exited;
    const left2 = new SqliteOutbox(env.OUTBOX_PATH);
    const left2Stats = left2.stats();
    const left2Seqs = left2.lastSeqs();
    left2.close();

    // Run 3: finishes and drains.
    const third = runChild(env);
    const code = await Promise.race([third.exited, sleep(60_000).then(() => 'timeout' as const)]);
    expect(code, third.stderr()).toBe(0);
    const start3 = third.events.find((e) => e.event === 'start')!;
    const drained = third.events.find((e) => e.event === 'drained')!;
    expect(start3.lastSeqs).toEqual(Object.fromEntries(left2Seqs));
    expect(drained.uplink.resent).toBeGreaterThanOrEqual(start3.unackedBatches);

    const final = new SqliteOutbox(env.OUTBOX_PATH);
    expect(final.stats()).toMatchObject({ depth: 0, unbatched: 0, inFlightBatches: 0 });
    expect(Object.fromEntries(final.lastSeqs())).toEqual(Object.fromEntries(deviceIds(DEVICES).map((d) => [d, PER_DEVICE])));
    final.close();

    for (const dev of deviceIds(DEVICES)) expect(acker.missing(GW, dev, PER_DEVICE), dev).toEqual([]);
    expect(acker.counts.unique).toBe(TOTAL);
    expect(acker.counts.rejected + acker.counts.badBatches + acker.counts.batchMismatches).toBe(0);
    console.log(
      '[gateway d]',
      JSON.stringify({
        acceptedBeforeKill,
        leftInOutbox: leftStats,
        uniqueSeenBeforeRestart: seenBeforeRestart,
        leftAfterSecondKill: left2Stats,
        acker: acker.counts,
        thirdRun: drained.uplink,
      }),
    );
  });
});
