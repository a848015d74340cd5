// The real zigbee-herdsman against our Z-Stack emulator, through the real gateway into a real
// centre (`testbed up --no-sim`, embedded store): join → interview → configure → reports →
// normalised readings → stored; permit_join over MQTT; health and events; adapter loss and
// recovery; a gateway restart resumes the network without re-pairing.

import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ZStackEmulator } from '../../simulators/zstack/emulator.ts';
import { DEFAULT_DEVICES } from '../../simulators/zstack/models.ts';
import { startGateway, type Gateway } from '../../gateway/index.ts';
import { checkReading } from '../../devices/contract.ts';
import { silentLogger } from '../../lib/log.ts';
import { tempDir, waitFor } from '../support/servers.ts';
import {
  startCentre,
  recorder,
  storedReadings,
  byDevice,
  gatewayEnv,
  gatewayConfig,
  devicesFile,
  waitForEvents,
  type TestCentre,
  type Recorder,
} from '../support/zigbee.ts';

const EXPECTED_KIND: Record<string, string> = {
  leak: 'incontinence',
  fall: 'fall',
  bed: 'bed',
  door: 'door',
  motion: 'motion',
  sos: 'button',
  climate: 'climate',
};
const ieeeOf = (model: string) => DEFAULT_DEVICES.find((d) => d.model === model)!.ieee;

let centre: TestCentre;
let rec: Recorder;
let emu: ZStackEmulator;
let gw: Gateway | undefined;
const emuState = join(tempDir('testbed-zb-emu-'), 'emu.json');
const gwDir = tempDir('testbed-zb-gw-');
let env: Record<string, string>;

beforeAll(async () => {
  centre = await startCentre('home-a', 'gw-1');
  rec = await recorder(centre);
  emu = new ZStackEmulator({ statePath: emuState, intervalMs: 300 });
  await emu.start();
  env = gatewayEnv(centre, gwDir, emu.url, {
    TESTBED_ZIGBEE_PERMIT_JOIN_S: '120',
    // The motion sensor is installed on a chair in this home.
    TESTBED_GATEWAY_DEVICES_FILE: devicesFile(gwDir, { devices: { [ieeeOf('leak')]: { kind: 'incontinence' } } }),
  });
}, 60_000);

afterAll(async () => {
  await gw?.stop().catch(() => undefined);
  await emu?.stop().catch(() => undefined);
  await rec?.close().catch(() => undefined);
  await centre?.proc.kill().catch(() => undefined);
});

describe('herdsman ↔ Z-Stack emulator ↔ gateway ↔ centre', () => {
  it('pairs every virtual device (join, interview, configure) and stores normalised readings of the right kind', async () => {
    gw = await startGateway(gatewayConfig(env), { log: silentLogger, zigbeeRestartDelaysMs: [300, 600, 1000] });
    expect(gw.zigbee?.lastStart).toBe('reset');
    // A per-gateway random network, never herdsman's public default key.
    const net = JSON.parse(readFileSync(join(gwDir, 'zigbee', 'network.json'), 'utf8')) as {
      networkKey: number[];
      extendedPanID: number[];
      panID: number;
    };
    expect(net.networkKey).toHaveLength(16);
    expect(net.networkKey).not.toEqual([1, 3, 5, 7, 9, 11, 13, 15, 0, 2, 4, 6, 8, 10, 12, 13]);
    expect(new Set(net.extendedPanID).size).toBeGreaterThan(1);

    await waitForEvents(
      rec,
      'seven successful interviews',
      (ev) => ev.filter((e) => e.type === 'device_interview' && (e.data as { status?: string })?.status === 'successful').length >= 7,
      90_000,
    );
    const interviews = rec.events('device_interview').filter((e) => (e.data as { status: string }).status === 'successful');
    for (const d of DEFAULT_DEVICES) {
      const e = interviews.find((x) => x.dev === d.ieee);
      expect(e, `interview of ${d.model}`).toBeDefined();
      expect((e!.data as { supported: boolean; kind: string }).supported).toBe(true);
      expect((e!.data as { kind: string }).kind).toBe(EXPECTED_KIND[d.model]);
    }
    expect(rec.events('device_joined').length).toBeGreaterThanOrEqual(7);
    // definition.configure() ran (binds + reporting) for the models that have one.
    await waitForEvents(rec, 'configure of every device', (ev) => ev.filter((e) => e.type === 'device_configured').length >= 7, 30_000);
    expect(rec.events('device_configure_failed')).toEqual([]);

    // Reports flow: at least 4 stored readings of the right kind per device.
    const rows = await waitFor(
      '4 readings per device in the store',
      async () => {
        const r = storedReadings(centre);
        const m = byDevice(r);
        return DEFAULT_DEVICES.every((d) => (m.get(d.ieee)?.length ?? 0) >= 4) ? r : undefined;
      },
      60_000,
      250,
    );
    const m = byDevice(rows);
    for (const d of DEFAULT_DEVICES) {
      const mine = m.get(d.ieee)!;
      expect(new Set(mine.map((r) => r.kind)), d.model).toEqual(new Set([EXPECTED_KIND[d.model]]));
      for (const r of mine)
        expect(
          checkReading({ dev: r.device, kind: r.kind, seq: r.seq, ts: r.ts, v: r.v, ...(r.q ? { q: r.q } : {}) }, Date.now()),
        ).toBeNull();
    }
    // The values follow the devices: both states are seen, and the mapping is right.
    const values = (model: string, field: string) => new Set(m.get(ieeeOf(model))!.map((r) => r.v[field]));
    expect(values('leak', 'wet')).toEqual(new Set([true, false]));
    expect(values('door', 'open')).toEqual(new Set([true, false]));
    expect(values('motion', 'motion')).toEqual(new Set([true, false]));
    expect(values('bed', 'occupied')).toEqual(new Set([true, false]));
    expect(values('fall', 'state')).toEqual(new Set(['fall', 'none']));
    expect(values('fall', 'fall')).toEqual(new Set([true, false]));
    expect(values('sos', 'action')).toEqual(new Set(['sos']));
    const climate = m.get(ieeeOf('climate'))!;
    for (const r of climate) expect(r.v.temperature_c as number).toBeGreaterThan(18);
    expect(climate.some((r) => typeof r.v.humidity_pct === 'number')).toBe(true);
    // Quality: battery from genPowerCfg / Tuya dp 4, link quality from the radio.
    expect(climate.some((r) => r.q?.battery === 100 && typeof r.q?.lqi === 'number')).toBe(true);
    expect(m.get(ieeeOf('bed'))!.some((r) => r.q?.battery === 100)).toBe(true);
  }, 150_000);

  it('answers permit_join over MQTT with a reply echoing the id, and publishes health', async () => {
    await rec.client.publishAsync('lab/v1/home-a/gw-1/cmd/permit_join', JSON.stringify({ id: 'pj-1', seconds: 30 }), { qos: 1 });
    await waitFor(
      'permit_join reply',
      async () => rec.messages.some((x) => x.topic.endsWith('/cmd/permit_join/reply') && x.body.id === 'pj-1'),
      15_000,
    );
    const reply = rec.messages.find((x) => x.topic.endsWith('/cmd/permit_join/reply') && x.body.id === 'pj-1')!.body;
    expect(reply).toMatchObject({ id: 'pj-1', ok: true, seconds: 30 });
    expect(emu.stats().permitJoin).toBe(true);
    // An unknown command gets a refusal, not silence.
    await rec.client.publishAsync('lab/v1/home-a/gw-1/cmd/self_destruct', JSON.stringify({ id: 'x-1' }), { qos: 1 });
    await waitFor(
      'refusal',
      async () => rec.messages.some((x) => x.topic.endsWith('/cmd/self_destruct/reply') && x.body.id === 'x-1' && x.body.ok === false),
      10_000,
    );
    // remove_device of an unknown device fails with a reason.
    await rec.client.publishAsync('lab/v1/home-a/gw-1/cmd/remove_device', JSON.stringify({ id: 'rm-0', dev: '0x0000000000000bad' }), {
      qos: 1,
    });
    await waitFor(
      'remove_device refusal',
      async () =>
        rec.messages.some(
          (x) =>
            x.topic.endsWith('/cmd/remove_device/reply') &&
            x.body.id === 'rm-0' &&
            x.body.ok === false &&
            /no Zigbee device/.test(String(x.body.error)),
        ),
      10_000,
    );

    const health = await waitFor(
      'a health message with 7 devices',
      async () => {
        const h = rec.messages
          .filter((x) => x.topic.endsWith('/health'))
          .map((x) => x.body)
          .pop();
        return h && Object.keys((h.devices as object) ?? {}).length >= 7 ? h : undefined;
      },
      10_000,
    );
    expect(health.adapter).toBe('up');
    expect(health.memRssBytes as number).toBeGreaterThan(10_000_000);
    expect(typeof health.outboxDepth).toBe('number');
    expect(health.diskFreeBytes as number).toBeGreaterThan(0);
    const dev = (health.devices as Record<string, { lastSeen: number; lqi?: number; battery?: number }>)[ieeeOf('climate')]!;
    expect(Date.now() - dev.lastSeen).toBeLessThan(10_000);
    expect(dev.battery).toBe(100);
    expect(dev.lqi).toBeGreaterThan(0);
  }, 60_000);

  it('battery drain on the emulator shows in readings and health', async () => {
    emu.drainBattery(ieeeOf('climate'), 12);
    await waitFor(
      'battery 12 % stored',
      async () => storedReadings(centre).some((r) => r.device === ieeeOf('climate') && r.q?.battery === 12),
      20_000,
      250,
    );
  }, 30_000);

  it('recovers from adapter loss (socket drop): adapter_down, a rebuilt controller, reports again', async () => {
    const before = storedReadings(centre).length;
    const downs = rec.events('adapter_down').length;
    const ups = rec.events('adapter_up').length;
    emu.dropSocket();
    await waitForEvents(rec, 'adapter_down', (ev) => ev.filter((e) => e.type === 'adapter_down').length > downs, 15_000);
    await waitForEvents(rec, 'adapter_up again', (ev) => ev.filter((e) => e.type === 'adapter_up').length > ups, 30_000);
    expect(gw!.zigbee!.lastStart).toBe('resumed');
    await waitFor('readings after recovery', async () => storedReadings(centre).length > before + 20, 30_000, 250);
    expect(gw!.zigbee!.state()).toBe('up');
  }, 60_000);

  it('a coordinator reset (the stick reboots) is recovered the same way', async () => {
    const ups = rec.events('adapter_up').length;
    emu.reset();
    await waitForEvents(rec, 'adapter_up after reset', (ev) => ev.filter((e) => e.type === 'adapter_up').length > ups, 30_000);
    const before = storedReadings(centre).length;
    await waitFor('readings after reset', async () => storedReadings(centre).length > before + 10, 30_000, 250);
  }, 60_000);

  it('a gateway and emulator restart resumes the network: same devices, no new joins, no re-pairing', async () => {
    const joinsBefore = emu.stats().joins;
    const joinedEvents = rec.events('device_joined').length;
    await gw!.stop();
    gw = undefined;
    await emu.stop();
    // The stick is power-cycled too: the emulator comes back from its NV file on a new port.
    emu = new ZStackEmulator({ statePath: emuState, intervalMs: 300 });
    await emu.start();
    expect(emu.listDevices().filter((d) => d.joined)).toHaveLength(7);
    expect(existsSync(join(gwDir, 'zigbee', 'coordinator_backup.json'))).toBe(true);
    gw = await startGateway(gatewayConfig({ ...env, TESTBED_ZIGBEE_PORT: emu.url, TESTBED_ZIGBEE_PERMIT_JOIN_S: '0' }), {
      log: silentLogger,
    });
    expect(gw.zigbee!.lastStart).toBe('resumed');
    expect(gw.zigbee!.list()).toHaveLength(7);
    const seqBefore = new Map([...byDevice(storedReadings(centre))].map(([d, rows]) => [d, Math.max(...rows.map((r) => r.seq))]));
    await waitFor(
      'every device reports after the restart',
      async () => {
        const m = byDevice(storedReadings(centre));
        return DEFAULT_DEVICES.every((d) => Math.max(...(m.get(d.ieee) ?? []).map((r) => r.seq)) > seqBefore.get(d.ieee)!);
      },
      30_000,
      250,
    );
    expect(emu.stats().joins).toBe(0);
    expect(joinsBefore).toBeGreaterThanOrEqual(7);
    expect(rec.events('device_joined').length).toBe(joinedEvents);
    // Seqs carry on from the outbox: contiguous per device, no duplicates, nothing lost in the store.
    await gw.uplink.drained(20_000);
    for (const [dev, rows] of byDevice(storedReadings(centre))) {
      const seqs = rows.map((r) => r.seq);
      expect(new Set(seqs).size, dev).toBe(seqs.length);
      expect(seqs[seqs.length - 1]! - seqs[0]! + 1, dev).toBe(seqs.length);
    }
  }, 90_000);
});
