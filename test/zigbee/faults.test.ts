// The emulator's scriptable faults against the real herdsman, through the HerdsmanSource (no
// centre: a collecting sink): failed deliveries during an interview, leave and rejoin with a
// new network address, silence, remove_device, an allow-list that refuses a stranger.

import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { ZStackEmulator } from '../../simulators/zstack/emulator.ts';
import { HerdsmanSource, type SourceSink } from '../../gateway/index.ts';
import type { Reading } from '../../devices/contract.ts';
import { silentLogger } from '../../lib/log.ts';
import { tempDir, waitFor } from '../support/servers.ts';
import { sleep } from '../../lib/timeout.ts';

const LEAK = '0x00158d0001a10001';
const CLIMATE = '0x00124b0002c10007';
const SOS = '0xa4c1380000510006';
const STRANGER = '0x00158d00000bad00';

const readings: Omit<Reading, 'seq'>[] = [];
const events: { type: string; dev?: string; data?: Record<string, unknown> }[] = [];
const sink: SourceSink = {
  reading: (r) => readings.push(r),
  event: (type, dev, data) => events.push({ type, ...(dev ? { dev } : {}), ...(data ? { data } : {}) }),
};
const interviewed = (dev: string) => events.some((e) => e.type === 'device_interview' && e.dev === dev && e.data?.status === 'successful');

let emu: ZStackEmulator;
let src: HerdsmanSource;

beforeAll(async () => {
  emu = new ZStackEmulator({
    intervalMs: 0,
    devices: [
      { model: 'leak', ieee: LEAK },
      { model: 'climate', ieee: CLIMATE },
      { model: 'sos', ieee: SOS },
      { model: 'door', ieee: STRANGER },
    ],
  });
  await emu.start();
  // Every delivery fails twice before the interview can go on (MAC no-ack): herdsman must retry.
  emu.failDeliveries('*', 2);
  src = new HerdsmanSource({
    dataDir: tempDir('testbed-zb-faults-'),
    port: emu.url,
    adapter: 'zstack',
    permitJoinS: 60,
    devicesFile: () => ({ allow: new Set([LEAK, CLIMATE, SOS]), overrides: new Map() }),
    log: silentLogger,
    restartDelaysMs: [200],
  });
  await src.start(sink);
}, 60_000);

afterAll(async () => {
  await src?.stop();
  await emu?.stop();
});

describe('emulator faults against the real herdsman', () => {
  it('failed deliveries are retried and the interviews still succeed; the allow-list refuses a stranger', async () => {
    await waitFor('three interviews', async () => [LEAK, CLIMATE, SOS].every(interviewed), 60_000, 100);
    expect(emu.stats().failedDeliveries).toBe(2);
    await waitFor('stranger refused', async () => events.some((e) => e.type === 'device_rejected' && e.dev === STRANGER), 10_000);
    expect(interviewed(STRANGER)).toBe(false);
    // herdsman asked the stranger to leave (ZDO mgmt leave): it is no longer joined.
    await waitFor('stranger left', async () => emu.listDevices().find((d) => d.ieee === STRANGER)!.joined === false, 10_000);
  }, 90_000);

  it('on-demand reports become readings', async () => {
    emu.trigger(LEAK);
    emu.trigger(CLIMATE);
    await waitFor(
      'leak and climate readings',
      async () => readings.some((r) => r.dev === LEAK) && readings.some((r) => r.dev === CLIMATE && r.v.humidity_pct !== undefined),
      10_000,
    );
    expect(readings.find((r) => r.dev === LEAK)).toMatchObject({ kind: 'incontinence', v: { wet: true } });
  });

  it('leave and rejoin with a new network address: events, and reports from the new address still map to the device', async () => {
    emu.leave(LEAK);
    await waitFor('device_left', async () => events.some((e) => e.type === 'device_left' && e.dev === LEAK), 10_000);
    const nwkBefore = emu.listDevices().find((d) => d.ieee === LEAK)!.nwk;
    emu.rejoin(LEAK, true);
    expect(emu.listDevices().find((d) => d.ieee === LEAK)!.nwk).not.toBe(nwkBefore);
    await waitFor(
      'device_joined again',
      async () => events.filter((e) => e.type === 'device_joined' && e.dev === LEAK).length >= 2,
      10_000,
    );
    const n = readings.filter((r) => r.dev === LEAK).length;
    await sleep(300);
    emu.trigger(LEAK);
    await waitFor('a reading from the new address', async () => readings.filter((r) => r.dev === LEAK).length > n, 10_000);
  }, 30_000);

  it('a silent device makes no readings and its last-seen stops moving', async () => {
    emu.silence(CLIMATE);
    const lastSeen = src.devices()[CLIMATE]!.lastSeen;
    const n = readings.filter((r) => r.dev === CLIMATE).length;
    emu.trigger(CLIMATE);
    await sleep(500);
    expect(readings.filter((r) => r.dev === CLIMATE).length).toBe(n);
    expect(src.devices()[CLIMATE]!.lastSeen).toBe(lastSeen);
    emu.silence(CLIMATE, false);
    emu.trigger(CLIMATE);
    await waitFor('climate again', async () => readings.filter((r) => r.dev === CLIMATE).length > n, 10_000);
  }, 30_000);

  it('restart_adapter rebuilds the controller on the same network (resumed), devices kept', async () => {
    const before = src.list().length;
    await src.restartAdapter();
    expect(src.state()).toBe('up');
    expect(src.lastStart).toBe('resumed');
    expect(src.list()).toHaveLength(before);
    const n = readings.filter((r) => r.dev === LEAK).length;
    emu.trigger(LEAK);
    await waitFor('a reading after the restart', async () => readings.filter((r) => r.dev === LEAK).length > n, 10_000);
  }, 30_000);

  it('remove_device makes the device leave the network and herdsman forget it', async () => {
    await src.removeDevice(SOS);
    await waitFor('sos left', async () => emu.listDevices().find((d) => d.ieee === SOS)!.joined === false, 10_000);
    expect(src.list().map((d) => d.dev)).not.toContain(SOS);
    await expect(src.removeDevice('0x0000000000000bad')).rejects.toThrow(/no Zigbee device/);
  }, 30_000);
});
