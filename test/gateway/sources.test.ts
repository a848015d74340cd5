// The gateway's non-herdsman parts: the model→kind mapping (with overrides), the vendor MQTT
// mapping, and the Zigbee2MQTT and vendor MQTT sources against a real Mosquitto with messages in
// Zigbee2MQTT 2.x's documented format (research/zigbee.md §5) published by the test — not a
// real Zigbee2MQTT. Plus the gateway's loud outbox cap and reload_config.

import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { connectAsync, type MqttClient } from 'mqtt';
import * as zhc from 'zigbee-herdsman-converters';
import { startMosquitto, tempDir, waitFor, type ServerHandle } from '../support/servers.ts';
import {
  kindFor,
  kindFromModel,
  valuesFor,
  qualityFrom,
  exposeProperties,
  parseVendorMap,
  mapMessage,
  topicMatches,
  Z2mSource,
  VendorMqttSource,
  startGateway,
  type SourceSink,
} from '../../gateway/index.ts';
import { checkReading, type Reading } from '../../devices/contract.ts';
import { loadConfig } from '../../lib/config.ts';
import { silentLogger } from '../../lib/log.ts';
import { sleep } from '../../lib/timeout.ts';

zhc.setLogger({ debug: () => undefined, info: () => undefined, warning: () => undefined, error: () => undefined });

/** A definition's model info the way the converters (and Z2M's bridge/devices) describe it. */
async function definitionOf(modelID: string, manufacturerName: string) {
  const device = {
    ieeeAddr: '0x0000000000000001',
    modelID,
    manufacturerName,
    type: 'EndDevice',
    powerSource: 'Battery',
    endpoints: [],
    getEndpoint: () => undefined,
    customClusters: {},
  };
  const def = await zhc.findByDevice(device as never);
  if (!def) throw new Error(`no definition for ${modelID}/${manufacturerName}`);
  const exposes = typeof def.exposes === 'function' ? def.exposes(device as never, {}) : def.exposes;
  return { model: def.model, vendor: def.vendor, description: def.description, exposes: JSON.parse(JSON.stringify(exposes)) as unknown[] };
}

function collector(): SourceSink & {
  readings: Omit<Reading, 'seq'>[];
  events: { type: string; dev?: string; data?: Record<string, unknown> }[];
} {
  const readings: Omit<Reading, 'seq'>[] = [];
  const events: { type: string; dev?: string; data?: Record<string, unknown> }[] = [];
  return {
    readings,
    events,
    reading: (r) => readings.push(r),
    event: (type, dev, data) => events.push({ type, ...(dev ? { dev } : {}), ...(data ? { data } : {}) }),
  };
}

describe('model → kind mapping', () => {
  it('maps real definitions of the assisted-living models to our kinds', async () => {
    const cases: [string, string, string][] = [
      ['lumi.sensor_wleak.aq1', 'LUMI', 'incontinence'],
      ['TS0601', '_TZE200_lu01t0zl', 'fall'],
      ['HS2FD-EF1-3.0', 'HEIMAN', 'fall'],
      ['TS0601', '_TZE200_seq9cm6u', 'bed'],
      ['lumi.sensor_magnet.aq2', 'LUMI', 'door'],
      ['lumi.sensor_motion.aq2', 'LUMI', 'motion'],
      ['MS01', 'eWeLink', 'motion'],
      ['TS0215A', '_TZ3000_4fsgukof', 'button'],
      ['SOS-EF-3.0', 'HEIMAN', 'button'],
      ['TH01', 'eWeLink', 'climate'],
      ['lumi.weather', 'LUMI', 'climate'],
    ];
    for (const [modelID, manufacturer, kind] of cases) {
      const d = await definitionOf(modelID, manufacturer);
      expect(kindFromModel({ ...d, exposes: exposeProperties(d.exposes) }), `${d.vendor} ${d.model}`).toBe(kind);
    }
  });

  it('per-device overrides win (a leak sensor as incontinence, an occupancy sensor on a chair)', () => {
    const motion = { model: 'SNZB-03', exposes: ['occupancy', 'battery'] };
    expect(kindFor(motion)).toBe('motion');
    expect(kindFor(motion, { kind: 'chair' })).toBe('chair');
    expect(valuesFor('chair', { occupancy: true }, { occupancy: true })).toEqual({ occupied: true });
  });

  it('turns converted state into catalogue values, and makes no reading from a battery-only message', () => {
    expect(valuesFor('door', { contact: true }, { contact: true })).toEqual({ open: false });
    expect(valuesFor('door', { contact: false }, { contact: false })).toEqual({ open: true });
    expect(valuesFor('fall', { fall_status: 'fall_warning', occupancy: true }, { fall_status: 'fall_warning' })).toEqual({
      fall: false,
      state: 'suspected',
      presence: true,
    });
    expect(valuesFor('fall', { fall_down_status: 'fall' }, { fall_down_status: 'fall' })).toEqual({ fall: true, state: 'fall' });
    expect(valuesFor('button', { action: 'emergency' }, { action: 'emergency' })).toEqual({ action: 'sos' });
    expect(valuesFor('button', { action: 'arm_all_zones' }, { action: 'arm_all_zones' })).toBeNull();
    expect(valuesFor('climate', { humidity: 40 }, { humidity: 40 })).toBeNull();
    expect(valuesFor('climate', { temperature: 21.5, humidity: 40 }, { humidity: 40 })).toEqual({ temperature_c: 21.5, humidity_pct: 40 });
    expect(valuesFor('incontinence', { water_leak: true, battery: 50 }, { battery: 50 })).toBeNull();
    expect(valuesFor('motion', { occupancy: true, illuminance: 300 }, { occupancy: true })).toEqual({ motion: true, illuminance_lux: 300 });
    expect(qualityFrom({ battery: 87.4, voltage: 2950, linkquality: 120 })).toEqual({ battery: 87, voltage_mv: 2950, lqi: 120 });
    expect(qualityFrom({ battery: 200 })).toEqual({ battery: 100 });
  });
});

describe('vendor MQTT mapping', () => {
  const map = parseVendorMap({
    mappings: [
      {
        topic: 'acme/+/cup/+',
        dev: { topicLevel: 3 },
        prefix: 'acme-',
        kind: 'hydration',
        ts: { field: 'time', unit: 's' },
        fields: { intake_ml: { field: 'sip.ml', round: true }, level_ml: { field: 'left_l', scale: 1000, round: true } },
        quality: { battery: { field: 'bat' } },
      },
      { topic: 'flush/#', dev: { field: 'serial' }, kind: 'toilet', fields: { flush: { field: 'event', equals: 'flush' } } },
      {
        topic: 'plug/+/state',
        dev: { topicLevel: 1 },
        kind: 'appliance',
        fields: { on: { field: 'relay', map: { ON: true, OFF: false } }, power_w: { field: 'w' } },
      },
    ],
  });

  it('matches MQTT filters', () => {
    expect(topicMatches('acme/+/cup/+', 'acme/home1/cup/c7')).toBe(true);
    expect(topicMatches('acme/+/cup/+', 'acme/home1/cup')).toBe(false);
    expect(topicMatches('flush/#', 'flush/a/b')).toBe(true);
  });

  it('maps topic levels, payload paths and transforms to a valid reading', () => {
    const now = Date.UTC(2026, 0, 1);
    const r = mapMessage(map.mappings[0]!, 'acme/home1/cup/c7', { sip: { ml: 41.6 }, left_l: 0.25, time: now / 1000 - 5, bat: 77 }, now);
    expect(r).toEqual({ dev: 'acme-c7', kind: 'hydration', ts: now - 5000, v: { intake_ml: 42, level_ml: 250 }, q: { battery: 77 } });
    expect(checkReading({ ...(r as Reading), seq: 1 }, now)).toBeNull();
    expect(mapMessage(map.mappings[1]!, 'flush/x', { serial: 'wc-1', event: 'flush' }, now)).toMatchObject({
      dev: 'wc-1',
      v: { flush: true },
    });
    expect(mapMessage(map.mappings[2]!, 'plug/kettle/state', { relay: 'ON', w: 1800 }, now)).toMatchObject({
      dev: 'kettle',
      kind: 'appliance',
      v: { on: true, power_w: 1800 },
    });
    expect(mapMessage(map.mappings[0]!, 'acme/home1/cup/c7', { left_l: 0.2 }, now)).toEqual({ skip: 'required field intake_ml missing' });
  });

  it('refuses a map with unknown kinds or fields, clearly', () => {
    expect(() => parseVendorMap({ mappings: [{ topic: 'a/#', dev: { topicLevel: 1 }, kind: 'teapot', fields: {} }] })).toThrow(
      /unknown kind 'teapot'/,
    );
    expect(() =>
      parseVendorMap({ mappings: [{ topic: 'a/#', dev: { topicLevel: 1 }, kind: 'toilet', fields: { flushed: { field: 'x' } } }] }),
    ).toThrow(/'flushed' is not a field of kind toilet/);
  });
});

describe('sources against a real Mosquitto', () => {
  let mosquitto: ServerHandle;
  let url: string;
  let pub: MqttClient;
  beforeAll(async () => {
    mosquitto = await startMosquitto();
    url = `mqtt://127.0.0.1:${mosquitto.port}`;
    pub = await connectAsync(url, { clientId: `test-pub-${process.pid}` });
  });
  afterAll(async () => {
    await pub?.endAsync(true).catch(() => undefined);
    await mosquitto?.stop();
  });

  it('Zigbee2MQTT: bridge/devices, state, availability and bridge events become readings and events', async () => {
    const leak = await definitionOf('lumi.sensor_wleak.aq1', 'LUMI');
    const door = await definitionOf('lumi.sensor_magnet.aq2', 'LUMI');
    const sos = await definitionOf('TS0215A', '_TZ3000_4fsgukof');
    const devices = [
      { ieee_address: '0x00124b0000000000', type: 'Coordinator', friendly_name: 'Coordinator', supported: false },
      {
        ieee_address: '0x00158d0001aabbcc',
        type: 'EndDevice',
        friendly_name: 'bathroom/leak',
        supported: true,
        definition: leak,
        model_id: 'lumi.sensor_wleak.aq1',
        interview_completed: true,
      },
      {
        ieee_address: '0x00158d0001ddeeff',
        type: 'EndDevice',
        friendly_name: '0x00158d0001ddeeff',
        supported: true,
        definition: door,
        model_id: 'lumi.sensor_magnet.aq2',
        interview_completed: true,
      },
      {
        ieee_address: '0xa4c1380000000001',
        type: 'EndDevice',
        friendly_name: 'sos button',
        supported: true,
        definition: sos,
        model_id: 'TS0215A',
        interview_completed: true,
      },
    ];
    await pub.publishAsync('z2m/bridge/devices', JSON.stringify(devices), { retain: true, qos: 1 });
    await pub.publishAsync('z2m/bridge/state', JSON.stringify({ state: 'online' }), { retain: true, qos: 1 });
    const sink = collector();
    const src = new Z2mSource({ url, baseTopic: 'z2m', devicesFile: () => ({ overrides: new Map() }), log: silentLogger });
    await src.start(sink);
    try {
      await waitFor('bridge online', async () => src.state() === 'up', 10_000);
      // Z2M repeats the whole cached state every time.
      await pub.publishAsync(
        'z2m/bathroom/leak',
        JSON.stringify({ battery: 91, battery_low: false, linkquality: 150, voltage: 3005, water_leak: true }),
        { qos: 1 },
      );
      await pub.publishAsync(
        'z2m/bathroom/leak',
        JSON.stringify({ battery: 90, battery_low: false, linkquality: 147, voltage: 3000, water_leak: true }),
        { qos: 1 },
      );
      await pub.publishAsync(
        'z2m/bathroom/leak',
        JSON.stringify({ battery: 90, battery_low: false, linkquality: 140, voltage: 3000, water_leak: false }),
        { qos: 1 },
      );
      await pub.publishAsync('z2m/0x00158d0001ddeeff', JSON.stringify({ contact: false, linkquality: 99 }), { qos: 1 });
      await pub.publishAsync('z2m/sos button', JSON.stringify({ action: 'emergency', battery: 80, linkquality: 60 }), { qos: 1 });
      await pub.publishAsync('z2m/sos button', JSON.stringify({ action: 'emergency', battery: 80, linkquality: 60 }), { qos: 1 });
      await pub.publishAsync('z2m/sos button', JSON.stringify({ action: '', battery: 80, linkquality: 60 }), { qos: 1 });
      await pub.publishAsync('z2m/bathroom/leak/availability', JSON.stringify({ state: 'offline' }), { qos: 1, retain: true });
      await pub.publishAsync(
        'z2m/bridge/event',
        JSON.stringify({ type: 'device_joined', data: { friendly_name: 'x', ieee_address: '0x00158d0009999999' } }),
        { qos: 1 },
      );
      await pub.publishAsync('z2m/bathroom/leak/set', JSON.stringify({ water_leak: true }), { qos: 1 });
      await waitFor('readings', async () => sink.readings.length >= 5 && sink.events.some((e) => e.type === 'device_joined'), 10_000);
      await sleep(300);
      const leakReadings = sink.readings.filter((r) => r.dev === '0x00158d0001aabbcc');
      // The battery-only change (91 → 90) made no reading; wet → dry did.
      expect(leakReadings.map((r) => r.v)).toEqual([{ wet: true }, { wet: false }]);
      expect(leakReadings[0]!.kind).toBe('incontinence');
      expect(leakReadings[0]!.q).toEqual({ battery: 91, voltage_mv: 3005, lqi: 150 });
      expect(sink.readings.filter((r) => r.dev === '0x00158d0001ddeeff').map((r) => [r.kind, r.v])).toEqual([['door', { open: true }]]);
      // Two presses are two readings even though the state repeats; the empty action is none.
      expect(sink.readings.filter((r) => r.dev === '0xa4c1380000000001').map((r) => r.v)).toEqual([{ action: 'sos' }, { action: 'sos' }]);
      for (const r of sink.readings) expect(checkReading({ ...r, seq: 1 }, Date.now())).toBeNull();
      expect(sink.events).toContainEqual({ type: 'device_availability', dev: '0x00158d0001aabbcc', data: { state: 'offline' } });
      expect(sink.events).toContainEqual({ type: 'device_joined', dev: '0x00158d0009999999', data: { source: 'zigbee2mqtt' } });
      expect(Object.keys(src.devices())).toEqual(expect.arrayContaining(['0x00158d0001aabbcc', '0x00158d0001ddeeff']));
      expect(src.devices()['0x00158d0001aabbcc']!.battery).toBe(90);
    } finally {
      await src.stop();
      await pub.publishAsync('z2m/bridge/devices', '', { retain: true, qos: 1 });
      await pub.publishAsync('z2m/bridge/state', '', { retain: true, qos: 1 });
      await pub.publishAsync('z2m/bathroom/leak/availability', '', { retain: true, qos: 1 });
    }
  });

  it('vendor MQTT source: mapped readings from a broker in the home', async () => {
    const map = parseVendorMap({
      mappings: [{ topic: 'acme/+/cup/+', dev: { topicLevel: 3 }, kind: 'hydration', fields: { intake_ml: { field: 'ml' } } }],
    });
    const sink = collector();
    const src = new VendorMqttSource({ url, map, log: silentLogger });
    await src.start(sink);
    try {
      await waitFor('vendor source up', async () => src.state() === 'up', 10_000);
      await sleep(200);
      await pub.publishAsync('acme/h1/cup/cup-1', JSON.stringify({ ml: 120 }), { qos: 1 });
      await pub.publishAsync('acme/h1/cup/cup-1', 'not json', { qos: 1 });
      await pub.publishAsync('acme/h1/cup/cup-1', JSON.stringify({ other: 1 }), { qos: 1 });
      await pub.publishAsync('other/topic', JSON.stringify({ ml: 1 }), { qos: 1 });
      await waitFor(
        'one reading and two skips',
        async () => sink.readings.length === 1 && [...src.skipped.values()].reduce((a, b) => a + b, 0) === 2,
        10_000,
      );
      expect(sink.readings[0]).toMatchObject({ dev: 'cup-1', kind: 'hydration', v: { intake_ml: 120 } });
      expect(src.skipped.get('not JSON')).toBe(1);
    } finally {
      await src.stop();
    }
  });

  it('gateway: a full outbox is loud (outbox_cap_hit event), reload_config re-reads the devices file', async () => {
    const dir = tempDir('testbed-gw-cap-');
    const devicesPath = join(dir, 'devices.yaml');
    writeFileSync(devicesPath, 'devices:\n  "0x1": { kind: chair }\n');
    const mapPath = join(dir, 'vendor.yaml');
    writeFileSync(
      mapPath,
      'mappings:\n  - topic: cap/+\n    dev: { topicLevel: 1 }\n    kind: toilet\n    fields: { flush: { field: f } }\n',
    );
    // The "centre" here is the same Mosquitto: nobody acks, so the outbox fills up.
    const cfg = loadConfig({
      env: {
        TESTBED_DATA_DIR: dir,
        TESTBED_MQTT_URL: url,
        TESTBED_GATEWAY_SITE: 'cap',
        TESTBED_GATEWAY_ID: 'gw-cap',
        TESTBED_GATEWAY_OUTBOX_MAX: '5',
        TESTBED_LOCAL_MQTT_URL: url,
        TESTBED_VENDOR_MQTT_MAP: mapPath,
        TESTBED_GATEWAY_DEVICES_FILE: devicesPath,
        TESTBED_GATEWAY_HEALTH_INTERVAL_S: '1',
      },
    });
    const watcher = await connectAsync(url, { clientId: `test-watch-${process.pid}` });
    const seen: { topic: string; body: Record<string, unknown> }[] = [];
    watcher.on('message', (topic, payload) => seen.push({ topic, body: JSON.parse(payload.toString()) as Record<string, unknown> }));
    await watcher.subscribeAsync(['lab/v1/cap/gw-cap/events', 'lab/v1/cap/gw-cap/health', 'lab/v1/cap/gw-cap/cmd/+/reply'], { qos: 1 });
    const gw = await startGateway(cfg, { log: silentLogger });
    try {
      await gw.uplink.waitConnected(10_000);
      await waitFor('vendor source up', async () => gw.sources[0]!.state() === 'up', 10_000);
      await sleep(200);
      for (let i = 0; i < 8; i++) await pub.publishAsync(`cap/wc-${i}`, JSON.stringify({ f: true }), { qos: 1 });
      await waitFor(
        'outbox_cap_hit event',
        async () => seen.some((m) => m.topic.endsWith('/events') && m.body.type === 'outbox_cap_hit'),
        10_000,
      );
      const cap = seen.find((m) => m.body.type === 'outbox_cap_hit')!.body;
      expect(cap.data).toMatchObject({ depth: 5, max: 5 });
      expect(gw.outbox.stats()).toMatchObject({ depth: 5, capHit: true });
      await waitFor(
        'health with capHit',
        async () =>
          seen.some(
            (m) => m.topic.endsWith('/health') && m.body.outboxCapHit === true && m.body.outboxDepth === 5 && m.body.adapter === 'none',
          ),
        10_000,
      );
      writeFileSync(devicesPath, 'allow: ["0x00158d0001a10001"]\ndevices:\n  "0x1": { kind: chair }\n  "0x2": { kind: incontinence }\n');
      await pub.publishAsync('lab/v1/cap/gw-cap/cmd/reload_config', JSON.stringify({ id: 'r-1' }), { qos: 1 });
      await waitFor(
        'reload reply',
        async () => seen.some((m) => m.topic.endsWith('/cmd/reload_config/reply') && m.body.id === 'r-1'),
        10_000,
      );
      expect(seen.find((m) => m.body.id === 'r-1')!.body).toEqual({ id: 'r-1', ok: true, overrides: 2, allow: 1 });
      // No Zigbee on this gateway: Zigbee commands fail with the reason.
      expect(await gw.command('permit_join', { id: 'p', seconds: 10 })).toEqual({
        id: 'p',
        ok: false,
        error: 'this gateway has no Zigbee adapter (TESTBED_ZIGBEE_PORT is empty)',
      });
    } finally {
      await gw.stop();
      await watcher.endAsync(true);
    }
  });
});
