// Virtual Zigbee devices of real models: what each answers in an interview (node descriptor,
// endpoints, genBasic), the attributes it holds, and what it reports on its own. The layouts
// follow the real devices as zigbee-herdsman-converters 26.112.0 identifies and decodes them
// (their definitions there); a test checks each model is recognised and its reports decode.

import { Zcl } from 'zigbee-herdsman';

const DT = Zcl.DataType;

export interface EndpointSpec {
  id: number;
  profileId: number;
  deviceId: number;
  inClusters: number[];
  outClusters: number[];
}

/** One outgoing ZCL message of a device: cluster, source endpoint and the frame bytes. */
export interface DeviceMessage {
  clusterId: number;
  endpoint: number;
  frame: Buffer;
}

/** The mutable part of a virtual device, persisted with the emulator's state. */
export interface DeviceState {
  ieee: string;
  model: string;
  nwk: number;
  joined: boolean;
  /** Battery in percent (drained by a fault). */
  battery: number;
  /** The state the device reports (wet, open, occupied …), toggled by its schedule. */
  active: boolean;
  /** IAS zone enrolled (zoneState 1) and to which CIE. */
  enrolled: boolean;
  cieAddr: string;
  /** Reports sent since the emulator started (not persisted meaningfully; for tests). */
  reports: number;
  temperature: number;
  humidity: number;
}

export interface ModelSpec {
  /** Short name used on the command line and in fault calls (`leak`, `door`, …). */
  name: string;
  /** The converters' model (for people and tests). */
  model: string;
  modelId: string;
  manufacturerName: string;
  manufacturerCode: number;
  endpoints: EndpointSpec[];
  /** Reports every `period` × the emulator's interval. */
  period: number;
  /** IAS zone type (0x002a water, 0x000d motion, 0x0015 contact, 0x002c personal emergency). */
  zoneType?: number;
  /** Attributes the device answers reads with, by cluster id → attribute id. */
  attributes(s: DeviceState): Record<number, Record<number, { type: number; value: unknown }>>;
  /** The reports of one scheduled tick (the device state has already been advanced). */
  report(s: DeviceState, tsn: number): DeviceMessage[];
  /** Tuya devices answer a dataQuery with every datapoint. */
  tuyaDatapoints?(s: DeviceState): TuyaDp[];
}

export interface TuyaDp {
  dp: number;
  datatype: number;
  data: Buffer;
}

const HA = 0x0104;
const C = {
  basic: 0x0000,
  powerCfg: 0x0001,
  identify: 0x0003,
  onOff: 0x0006,
  pollCtrl: 0x0020,
  ota: 0x0019,
  time: 0x000a,
  illuminance: 0x0400,
  temperature: 0x0402,
  humidity: 0x0405,
  occupancy: 0x0406,
  iasZone: 0x0500,
  iasAce: 0x0501,
  tuya: 0xef00,
} as const;

/** ZCL attribute ids by cluster (named, so the attribute tables below can keep them in hex). */
const A = {
  basic: {
    zclVersion: 0x0000,
    appVersion: 0x0001,
    stackVersion: 0x0002,
    hwVersion: 0x0003,
    manufacturerName: 0x0004,
    modelId: 0x0005,
    dateCode: 0x0006,
    powerSource: 0x0007,
    swBuildId: 0x4000,
  },
  powerCfg: { batteryVoltage: 0x0020, batteryPercentageRemaining: 0x0021 },
  iasZone: { zoneState: 0x0000, zoneType: 0x0001, zoneStatus: 0x0002, iasCieAddr: 0x0010, zoneId: 0x0011 },
  onOff: { onOff: 0x0000 },
  /** measuredValue of the temperature and humidity measurement clusters. */
  measuredValue: 0x0000,
} as const;

function basicAttributes(
  m: Pick<ModelSpec, 'modelId' | 'manufacturerName'>,
  powerSource = 3,
): Record<number, { type: number; value: unknown }> {
  return {
    [A.basic.zclVersion]: { type: DT.UINT8, value: 3 },
    [A.basic.appVersion]: { type: DT.UINT8, value: 1 },
    [A.basic.stackVersion]: { type: DT.UINT8, value: 2 },
    [A.basic.hwVersion]: { type: DT.UINT8, value: 1 },
    [A.basic.manufacturerName]: { type: DT.CHAR_STR, value: m.manufacturerName },
    [A.basic.modelId]: { type: DT.CHAR_STR, value: m.modelId },
    [A.basic.dateCode]: { type: DT.CHAR_STR, value: '20240101' },
    [A.basic.powerSource]: { type: DT.ENUM8, value: powerSource },
    [A.basic.swBuildId]: { type: DT.CHAR_STR, value: 'testbed-emu-1' },
  };
}

const powerCfg = (s: DeviceState) => ({
  [A.powerCfg.batteryVoltage]: { type: DT.UINT8, value: Math.round(22 + (s.battery / 100) * 8) },
  [A.powerCfg.batteryPercentageRemaining]: { type: DT.UINT8, value: Math.round(s.battery * 2) },
});

const iasZone = (s: DeviceState, zoneType: number) => ({
  [A.iasZone.zoneState]: { type: DT.ENUM8, value: s.enrolled ? 1 : 0 },
  [A.iasZone.zoneType]: { type: DT.ENUM16, value: zoneType },
  [A.iasZone.zoneStatus]: { type: DT.BITMAP16, value: zoneStatus(s) },
  [A.iasZone.iasCieAddr]: { type: DT.IEEE_ADDR, value: s.cieAddr },
  [A.iasZone.zoneId]: { type: DT.UINT8, value: 23 },
});

/** IAS zone status bits: alarm1 (bit 0), battery low (bit 3). */
function zoneStatus(s: DeviceState): number {
  return (s.active ? 1 : 0) | (s.battery <= 15 ? 1 << 3 : 0);
}

function frame(
  clusterKey: string | number,
  commandKey: string,
  payload: unknown,
  tsn: number,
  opts: { specific?: boolean; toServer?: boolean } = {},
): Buffer {
  return Zcl.Frame.create(
    opts.specific ? Zcl.FrameType.SPECIFIC : Zcl.FrameType.GLOBAL,
    opts.toServer ? Zcl.Direction.CLIENT_TO_SERVER : Zcl.Direction.SERVER_TO_CLIENT,
    true,
    undefined,
    tsn,
    commandKey,
    clusterKey,
    payload,
    {},
  ).toBuffer();
}

function attrReport(
  clusterId: number,
  ep: number,
  tsn: number,
  attrs: { attrId: number; dataType: number; attrData: unknown }[],
): DeviceMessage {
  return { clusterId, endpoint: ep, frame: frame(clusterId, 'report', attrs, tsn) };
}

function batteryReport(s: DeviceState, ep: number, tsn: number): DeviceMessage {
  const a = powerCfg(s);
  return attrReport(C.powerCfg, ep, tsn, [
    { attrId: 0x0020, dataType: DT.UINT8, attrData: a[0x0020].value },
    { attrId: 0x0021, dataType: DT.UINT8, attrData: a[0x0021].value },
  ]);
}

function statusChange(s: DeviceState, ep: number, tsn: number): DeviceMessage {
  return {
    clusterId: C.iasZone,
    endpoint: ep,
    frame: frame(C.iasZone, 'statusChangeNotification', { zonestatus: zoneStatus(s), extendedstatus: 0, zoneID: 23, delay: 0 }, tsn, {
      specific: true,
    }),
  };
}

export function tuyaReport(dps: TuyaDp[], tsn: number): DeviceMessage {
  return { clusterId: C.tuya, endpoint: 1, frame: frame(C.tuya, 'dataReport', { seq: tsn, dpValues: dps }, tsn, { specific: true }) };
}

const dpEnum = (dp: number, v: number): TuyaDp => ({ dp, datatype: 4, data: Buffer.from([v]) });
const dpValue = (dp: number, v: number): TuyaDp => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return { dp, datatype: 2, data: b };
};

const tuyaEndpoint: EndpointSpec = { id: 1, profileId: HA, deviceId: 0x0051, inClusters: [C.basic, C.tuya], outClusters: [C.ota, C.time] };

export const MODELS: Record<string, ModelSpec> = {
  leak: {
    name: 'leak',
    model: 'Aqara SJCGQ11LM',
    modelId: 'lumi.sensor_wleak.aq1',
    manufacturerName: 'LUMI',
    manufacturerCode: 0x115f,
    endpoints: [{ id: 1, profileId: HA, deviceId: 0x0402, inClusters: [C.basic, C.identify, C.iasZone], outClusters: [C.basic, C.ota] }],
    period: 3,
    zoneType: 0x002a,
    attributes(s) {
      return { [C.basic]: basicAttributes(this), [C.iasZone]: iasZone(s, 0x002a) };
    },
    report: (s, tsn) => [statusChange(s, 1, tsn)],
  },
  door: {
    name: 'door',
    model: 'Aqara MCCGQ11LM',
    modelId: 'lumi.sensor_magnet.aq2',
    manufacturerName: 'LUMI',
    manufacturerCode: 0x115f,
    endpoints: [
      { id: 1, profileId: HA, deviceId: 0x0104, inClusters: [C.basic, C.identify, C.onOff], outClusters: [C.basic, C.ota, C.onOff] },
    ],
    period: 2,
    attributes(s) {
      return { [C.basic]: basicAttributes(this), [C.onOff]: { [A.onOff.onOff]: { type: DT.BOOLEAN, value: s.active ? 1 : 0 } } };
    },
    // Aqara reports onOff = 1 when the magnet is away (open).
    report: (s, tsn) => [attrReport(C.onOff, 1, tsn, [{ attrId: 0x0000, dataType: DT.BOOLEAN, attrData: s.active ? 1 : 0 }])],
  },
  motion: {
    name: 'motion',
    model: 'SONOFF SNZB-03',
    modelId: 'MS01',
    manufacturerName: 'eWeLink',
    manufacturerCode: 0x1286,
    endpoints: [
      { id: 1, profileId: HA, deviceId: 0x0402, inClusters: [C.basic, C.powerCfg, C.identify, C.iasZone], outClusters: [C.identify] },
    ],
    period: 1,
    zoneType: 0x000d,
    attributes(s) {
      return { [C.basic]: basicAttributes(this), [C.powerCfg]: powerCfg(s), [C.iasZone]: iasZone(s, 0x000d) };
    },
    report: (s, tsn) => [statusChange(s, 1, tsn), batteryReport(s, 1, (tsn + 1) & 0xff)],
  },
  climate: {
    name: 'climate',
    model: 'SONOFF SNZB-02',
    modelId: 'TH01',
    manufacturerName: 'eWeLink',
    manufacturerCode: 0x1286,
    endpoints: [
      {
        id: 1,
        profileId: HA,
        deviceId: 0x0302,
        inClusters: [C.basic, C.powerCfg, C.identify, C.temperature, C.humidity],
        outClusters: [C.identify],
      },
    ],
    period: 2,
    attributes(s) {
      return {
        [C.basic]: basicAttributes(this),
        [C.powerCfg]: powerCfg(s),
        [C.temperature]: { [A.measuredValue]: { type: DT.INT16, value: Math.round(s.temperature * 100) } },
        [C.humidity]: { [A.measuredValue]: { type: DT.UINT16, value: Math.round(s.humidity * 100) } },
      };
    },
    report: (s, tsn) => [
      attrReport(C.temperature, 1, tsn, [{ attrId: 0, dataType: DT.INT16, attrData: Math.round(s.temperature * 100) }]),
      attrReport(C.humidity, 1, (tsn + 1) & 0xff, [{ attrId: 0, dataType: DT.UINT16, attrData: Math.round(s.humidity * 100) }]),
      batteryReport(s, 1, (tsn + 2) & 0xff),
    ],
  },
  sos: {
    name: 'sos',
    model: 'Tuya TS0215A_sos',
    modelId: 'TS0215A',
    manufacturerName: '_TZ3000_4fsgukof',
    manufacturerCode: 0x1141,
    endpoints: [
      { id: 1, profileId: HA, deviceId: 0x0401, inClusters: [C.basic, C.powerCfg, C.iasZone], outClusters: [C.iasAce, C.ota, C.time] },
    ],
    period: 4,
    zoneType: 0x002c,
    attributes(s) {
      return { [C.basic]: basicAttributes(this), [C.powerCfg]: powerCfg(s), [C.iasZone]: iasZone(s, 0x002c) };
    },
    // A press is an IAS ACE emergency command (client → server); between presses a battery report.
    report: (s, tsn) =>
      s.active
        ? [{ clusterId: C.iasAce, endpoint: 1, frame: frame(C.iasAce, 'emergency', {}, tsn, { specific: true, toServer: true }) }]
        : [batteryReport(s, 1, tsn)],
  },
  fall: {
    name: 'fall',
    model: 'Tuya MIR-HE200-TY',
    modelId: 'TS0601',
    manufacturerName: '_TZE200_lu01t0zl',
    manufacturerCode: 0x1141,
    endpoints: [tuyaEndpoint],
    period: 3,
    attributes() {
      return { [C.basic]: basicAttributes(this, 1) };
    },
    // dp 1 presence (enum, 1 = present), dp 116 fall_down_status (0 none, 1 maybe_fall, 2 fall).
    tuyaDatapoints: (s) => [dpEnum(1, 1), dpEnum(116, s.active ? 2 : 0)],
    report(s, tsn) {
      return [tuyaReport(this.tuyaDatapoints!(s), tsn)];
    },
  },
  bed: {
    name: 'bed',
    model: 'Tuya TS0601_bed_presence_sensor',
    modelId: 'TS0601',
    manufacturerName: '_TZE200_seq9cm6u',
    manufacturerCode: 0x1141,
    endpoints: [tuyaEndpoint],
    period: 2,
    attributes() {
      return { [C.basic]: basicAttributes(this) };
    },
    // dp 1 occupancy (an enum: 0 = occupied, as the strap reports it), dp 4 battery.
    tuyaDatapoints: (s) => [dpEnum(1, s.active ? 0 : 1), dpValue(4, Math.round(s.battery))],
    report(s, tsn) {
      return [tuyaReport(this.tuyaDatapoints!(s), tsn)];
    },
  },
};

export const DEFAULT_DEVICES: { model: string; ieee: string }[] = [
  { model: 'leak', ieee: '0x00158d0001a10001' },
  { model: 'fall', ieee: '0xa4c1380000f10002' },
  { model: 'bed', ieee: '0xa4c1380000b10003' },
  { model: 'door', ieee: '0x00158d0001d10004' },
  { model: 'motion', ieee: '0x00124b0002e10005' },
  { model: 'sos', ieee: '0xa4c1380000510006' },
  { model: 'climate', ieee: '0x00124b0002c10007' },
];

/**
 * `n` virtual devices cycling through the 7 models in DEFAULT_DEVICES' order, each with a
 * distinct IEEE address (the model's default address with its last 16 bits replaced by the
 * device's 1-based index, so the vendor prefixes stay real): fleet(7) is DEFAULT_DEVICES.
 */
export function fleet(n: number): { model: string; ieee: string }[] {
  if (!Number.isInteger(n) || n < 1 || n > 0xffff) throw new RangeError(`fleet: expected 1–65535 devices, got ${n}`);
  return Array.from({ length: n }, (_, i) => {
    const base = DEFAULT_DEVICES[i % DEFAULT_DEVICES.length]!;
    return { model: base.model, ieee: base.ieee.slice(0, -4) + (i + 1).toString(16).padStart(4, '0') };
  });
}

export function newDeviceState(model: string, ieee: string, nwk: number): DeviceState {
  return {
    ieee,
    model,
    nwk,
    joined: false,
    battery: 100,
    active: false,
    enrolled: false,
    cieAddr: '0x0000000000000000',
    reports: 0,
    temperature: 21,
    humidity: 45,
  };
}

/** Advances a device's state for a scheduled report (deterministic, so runs are comparable). */
export function advance(s: DeviceState): void {
  s.active = !s.active;
  s.temperature = Math.round((21 + Math.sin(s.reports / 5) * 2) * 100) / 100;
  s.humidity = Math.round((45 + Math.cos(s.reports / 7) * 5) * 100) / 100;
}
