// A Z-Stack 3.x ZNP coordinator emulator on a TCP socket, so that the real, unmodified
// zigbee-herdsman (adapter `zstack`, path `tcp://127.0.0.1:<port>`) forms a network, lets
// virtual devices join, interviews and configures them, and receives their reports.
//
// What it answers (MT commands by subsystem):
//   SYS     ping, version (Z-Stack 3.x.0), getExtAddr, resetReq (→ resetInd), stackTune,
//           osalNvLength / osalNvRead / osalNvReadExt / osalNvItemInit (0x09 when created) /
//           osalNvWrite / osalNvWriteExt / osalNvDelete, nvLength (extended tables: empty)
//   UTIL    getDeviceInfo, ledControl, assocGetWithAddress, assocRemove, assocAdd
//   APP_CNF bdbSetChannel, bdbStartCommissioning (→ NIB + keys written, stateChangeInd 9,
//           bdbComissioningNotifcation)
//   ZDO     startupFromApp (→ stateChangeInd 9), extNwkInfo, extFindGroup, extAddGroup,
//           extRouteDisc; ZDO requests nwkAddr, ieeeAddr, nodeDesc, simpleDesc, activeEp,
//           bind, unbind, mgmtLeave, mgmtPermitJoin (each an SRSP status then the AREQ response)
//   AF      register, dataRequest, dataRequestExt (→ dataConfirm, then the device's ZCL answer
//           as incomingMsg: readRsp, writeRsp, configReportRsp, defaultRsp, Tuya dataReport)
//   and it sends tcDeviceInd + endDeviceAnnceInd (join), leaveInd, incomingMsg (reports).
//
// Faults (API, and flags of `testbed sim zstack`): dropSocket, reset (the stick reboots:
// resetInd then the link drops and the network must be started again), failDeliveries,
// leave / rejoin, silence, drainBattery, and refusing connections for a while.
//
// NV items, the joined devices and their state persist in a JSON file (`statePath`), so a
// gateway restart finds the same network (herdsman: `resumed`) and the same devices.

import { createServer, type Server, type Socket } from 'node:net';
import { readFileSync, writeFileSync, renameSync, existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Zcl } from 'zigbee-herdsman';
import {
  command,
  decodeRequest,
  isZdoSreq,
  zdoResponseCommand,
  srsp,
  areq,
  rawFrame,
  newParser,
  Structs,
  Type,
  Subsystem,
  Status,
  Nv,
  type UnpiFrame,
  type MtCommand,
} from './mt.ts';
import { MODELS, DEFAULT_DEVICES, newDeviceState, advance, tuyaReport, type DeviceState, type ModelSpec } from './models.ts';

export interface ZStackEmulatorOptions {
  /** TCP port on 127.0.0.1; 0 = any free port (read `port` after start). */
  port?: number;
  host?: string;
  /** Base report interval in ms; each model reports every `period` × this. Default 5,000. 0 = no scheduled reports. */
  intervalMs?: number;
  /** JSON file for NV, devices and their state. Without it the state lives in memory only. */
  statePath?: string;
  /** Which devices exist (default: one of each model). */
  devices?: { model: string; ieee: string }[];
  /** Delay between two devices joining when permit join opens, ms. Default 200. */
  joinSpacingMs?: number;
  log?: (msg: string) => void;
}

interface PersistedState {
  version: 1;
  coordinatorIeee: string;
  nv: Record<string, string>;
  devices: DeviceState[];
}

export interface EmulatorStats {
  connections: number;
  framesIn: number;
  joins: number;
  reports: number;
  dataRequests: number;
  failedDeliveries: number;
}

const ZDO = {
  NWK_ADDR: 0x0000,
  IEEE_ADDR: 0x0001,
  NODE_DESC: 0x0002,
  SIMPLE_DESC: 0x0004,
  ACTIVE_EP: 0x0005,
  BIND: 0x0021,
  UNBIND: 0x0022,
  LEAVE: 0x0034,
  PERMIT_JOIN: 0x0036,
} as const;

/** Coordinator device states (Z-Stack `devStates_t`): 0 hold, 9 started as coordinator. */
const DEV_HOLD = 0;
const DEV_COORD = 9;

const hex = (b: Buffer) => b.toString('hex');
const u16 = (n: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n & 0xffff);
  return b;
};
const ieeeBytes = (ieee: string) => Buffer.from(ieee.replace(/^0x/, '').padStart(16, '0'), 'hex').reverse();

export class ZStackEmulator {
  readonly opts: Required<Omit<ZStackEmulatorOptions, 'statePath' | 'log'>> & Pick<ZStackEmulatorOptions, 'statePath' | 'log'>;
  port = 0;
  private server: Server | undefined;
  private socket: Socket | undefined;
  private nv = new Map<number, Buffer>();
  private coordinatorIeee = '';
  private devState = DEV_HOLD;
  private readonly devices = new Map<string, DeviceState>();
  private readonly endpoints = new Map<number, { profileId: number; deviceId: number; inClusters: number[]; outClusters: number[] }>();
  private readonly groups = new Set<string>();
  private permitUntil = 0;
  private joinTimer: NodeJS.Timeout | undefined;
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private tsn = 1;
  private nextNwk = 0x1001;
  private readonly silent = new Set<string>();
  /** ieee (or '*') → deliveries still to fail. */
  private readonly failing = new Map<string, number>();
  private refuseUntil = 0;
  private readonly counts: EmulatorStats = { connections: 0, framesIn: 0, joins: 0, reports: 0, dataRequests: 0, failedDeliveries: 0 };

  constructor(opts: ZStackEmulatorOptions = {}) {
    this.opts = {
      port: opts.port ?? 0,
      host: opts.host ?? '127.0.0.1',
      intervalMs: opts.intervalMs ?? 5000,
      devices: opts.devices ?? DEFAULT_DEVICES,
      joinSpacingMs: opts.joinSpacingMs ?? 200,
      statePath: opts.statePath,
      log: opts.log,
    };
  }

  get url(): string {
    return `tcp://${this.opts.host}:${this.port}`;
  }

  async start(): Promise<void> {
    this.load();
    const server = createServer((socket) => this.onConnection(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port, this.opts.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const addr = server.address();
    if (addr === null || typeof addr === 'string') throw new Error('zstack emulator: no TCP address');
    this.port = addr.port;
    this.server = server;
    for (const d of this.devices.values()) if (d.joined) this.schedule(d);
    this.log(
      `listening on ${this.url} (${this.devices.size} virtual devices, ${[...this.devices.values()].filter((d) => d.joined).length} ` +
        `joined)`,
    );
  }

  async stop(): Promise<void> {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    if (this.joinTimer) clearTimeout(this.joinTimer);
    this.socket?.destroy();
    this.socket = undefined;
    this.save();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  stats(): EmulatorStats & { connected: boolean; permitJoin: boolean } {
    return { ...this.counts, connected: this.socket !== undefined, permitJoin: Date.now() < this.permitUntil };
  }

  /** The virtual devices and their state (copies). */
  listDevices(): (DeviceState & { modelName: string })[] {
    return [...this.devices.values()].map((d) => ({ ...d, modelName: MODELS[d.model]!.model }));
  }

  /** Changes the base report interval (0 = only on demand) and reschedules every joined device, e.g. to compress time in a bench. */
  setIntervalMs(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`zstack emulator: interval must be >= 0 ms, got ${ms}`);
    this.opts.intervalMs = ms;
    for (const d of this.devices.values()) {
      if (d.joined) this.schedule(d);
      else this.unschedule(d.ieee);
    }
  }

  // ── faults ─────────────────────────────────────────────────────────────────────────────────

  /** The serial link / TCP bridge drops: the host sees its port close. */
  dropSocket(): void {
    this.log('fault: dropping the host connection');
    this.socket?.destroy();
  }

  /** Refuse (close at once) new host connections for `ms`, e.g. a stick that is unplugged. */
  refuseConnections(ms: number): void {
    this.refuseUntil = Date.now() + ms;
    this.dropSocket();
  }

  /** The coordinator reboots: resetInd, the network stops (the host must start it), link drops. */
  reset(): void {
    this.log('fault: coordinator reset');
    this.devState = DEV_HOLD;
    this.send(areq(Subsystem.SYS, 'resetInd', { reason: 2, transportrev: 2, productid: 1, majorrel: 2, minorrel: 7, hwrev: 1 }));
    setTimeout(() => this.socket?.destroy(), 20);
  }

  /** The next `count` deliveries to `ieee` (or to every device with '*') fail with MAC no-ack. */
  failDeliveries(ieee: string, count: number): void {
    this.failing.set(ieee, count);
  }

  /** A device stops reporting and answering (flat battery, out of range) until unsilenced. */
  silence(ieee: string, on = true): void {
    this.device(ieee);
    if (on) this.silent.add(ieee);
    else this.silent.delete(ieee);
  }

  drainBattery(ieee: string, percent: number): void {
    const d = this.device(ieee);
    d.battery = Math.max(0, Math.min(100, percent));
    this.save();
  }

  /** The device leaves the network (leaveInd); it rejoins only through rejoin() or a permit join. */
  leave(ieee: string): void {
    const d = this.device(ieee);
    d.joined = false;
    d.enrolled = false;
    this.unschedule(ieee);
    this.send(areq(Subsystem.ZDO, 'leaveInd', { srcaddr: d.nwk, extaddr: d.ieee, request: 0, removechildren: 0, rejoin: 0 }));
    this.save();
  }

  /** The device joins again (a trust-centre rejoin, allowed without permit join), optionally with a new address. */
  rejoin(ieee: string, newAddress = false): void {
    const d = this.device(ieee);
    if (newAddress) d.nwk = this.allocNwk();
    this.join(d);
  }

  /** One report from a device now (tests use this instead of waiting for the schedule). */
  trigger(ieee: string, advanceState = true): void {
    const d = this.device(ieee);
    if (advanceState) advance(d);
    this.sendReports(d);
  }

  // ── connection ─────────────────────────────────────────────────────────────────────────────

  private onConnection(socket: Socket): void {
    if (Date.now() < this.refuseUntil) {
      socket.destroy();
      return;
    }
    // One host at a time: a new connection replaces the old one (a restarted gateway).
    const previous = this.socket;
    this.socket = socket;
    previous?.destroy();
    this.counts.connections++;
    socket.setNoDelay(true);
    const feed = newParser((frame: UnpiFrame) => {
      if (this.socket !== socket) return;
      this.counts.framesIn++;
      try {
        this.onFrame(frame);
      } catch (err) {
        this.log(`error handling frame ${frame.subsystem}/${frame.commandID}: ${(err as Error).message}`);
      }
    });
    socket.on('data', feed);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      // Only the current socket's close clears it (an old socket closing must not drop the new one).
      if (this.socket === socket) this.socket = undefined;
    });
  }

  private send(buf: Buffer): void {
    const s = this.socket;
    if (s && !s.destroyed) s.write(buf);
  }

  private onFrame(frame: UnpiFrame): void {
    const cmd = command(frame.subsystem, frame.commandID);
    if (!cmd) {
      this.log(`unknown MT command subsystem ${frame.subsystem} id ${frame.commandID}`);
      return;
    }
    if (frame.type === Type.SREQ && isZdoSreq(cmd)) return this.onZdo(cmd, frame.data);
    const req = decodeRequest(cmd, frame.data);
    const reply = (payload: Record<string, unknown>) => this.send(srsp(frame.subsystem, cmd, payload));
    const key = `${frame.subsystem}:${cmd.name}`;
    switch (key) {
      // SYS
      case '1:ping':
        return reply({ capabilities: 0x0659 });
      case '1:version':
        return reply({ transportrev: 2, product: 1, majorrel: 2, minorrel: 7, maintrel: 1, revision: 20240101 });
      case '1:getExtAddr':
        return reply({ extaddress: this.coordinatorIeee });
      case '1:stackTune':
        return reply({ value: 0 });
      case '1:resetReq':
        return this.onResetReq();
      case '1:osalNvLength':
        return reply({ length: this.nv.get(req.id as number)?.length ?? 0 });
      case '1:osalNvRead':
      case '1:osalNvReadExt': {
        const item = this.nv.get(req.id as number);
        if (!item) return reply({ status: Status.INVALID_PARAMETER, len: 0, value: Buffer.alloc(0) });
        const offset = req.offset as number;
        const value = item.subarray(offset, offset + 240);
        return reply({ status: Status.SUCCESS, len: value.length, value });
      }
      case '1:osalNvItemInit': {
        const id = req.id as number;
        if (this.nv.has(id)) return reply({ status: Status.SUCCESS });
        const item = Buffer.alloc(req.len as number);
        (req.initvalue as Buffer).copy(item, 0);
        this.nv.set(id, item);
        this.save();
        return reply({ status: Status.NV_ITEM_INITIALIZED });
      }
      case '1:osalNvWrite':
      case '1:osalNvWriteExt': {
        const id = req.id as number;
        const value = Buffer.from(req.value as Buffer);
        const offset = req.offset as number;
        const item = this.nv.get(id);
        if (!item) return reply({ status: Status.INVALID_PARAMETER });
        const grown =
          item.length >= offset + value.length ? item : Buffer.concat([item, Buffer.alloc(offset + value.length - item.length)]);
        value.copy(grown, offset);
        this.nv.set(id, grown);
        this.save();
        return reply({ status: Status.SUCCESS });
      }
      case '1:osalNvDelete':
        this.nv.delete(req.id as number);
        this.save();
        return reply({ status: Status.SUCCESS });
      case '1:nvLength':
        return reply({ len: 0 });
      // UTIL
      case '7:getDeviceInfo':
        return reply({
          status: 0,
          ieeeaddr: this.coordinatorIeee,
          shortaddr: 0,
          devicetype: 7,
          devicestate: this.devState,
          numassocdevices: 0,
          assocdeviceslist: [],
        });
      case '7:ledControl':
      case '7:assocRemove':
      case '7:assocAdd':
        return reply({ status: Status.SUCCESS });
      case '7:assocGetWithAddress': {
        const d = [...this.devices.values()].find((x) => x.ieee === req.extaddr && x.joined);
        return reply({ nwkaddr: d ? d.nwk : 0xfffe, addridx: 0, noderelation: d ? 1 : 255 });
      }
      // APP_CNF
      case '15:bdbSetChannel':
        return reply({ status: Status.SUCCESS });
      case '15:bdbStartCommissioning':
        reply({ status: Status.SUCCESS });
        return this.commission();
      // ZDO (MT-specific)
      case '5:startupFromApp':
        reply({ status: Status.SUCCESS });
        return this.startNetwork();
      case '5:extNwkInfo': {
        const nib = this.readNib();
        return reply({
          shortaddr: 0,
          devstate: this.devState,
          panid: nib ? (nib.nwkPanId as number) : 0xffff,
          parentaddr: 0,
          extendedpanid: nib ? `0x${hex(nib.extendedPANID as Buffer)}` : '0x0000000000000000',
          parentextaddr: '0x0000000000000000',
          channel: nib ? (nib.nwkLogicalChannel as number) : 0,
        });
      }
      case '5:extFindGroup': {
        const known = this.groups.has(`${req.endpoint}:${req.groupid}`);
        return reply({ status: known ? Status.SUCCESS : Status.FAILURE, groupid: req.groupid, namelen: 0, groupname: Buffer.alloc(0) });
      }
      case '5:extAddGroup':
        this.groups.add(`${req.endpoint}:${req.groupid}`);
        return reply({ status: Status.SUCCESS });
      case '5:extRouteDisc':
        return reply({ status: Status.SUCCESS });
      // AF
      case '4:register':
        this.endpoints.set(req.endpoint as number, {
          profileId: req.appprofid as number,
          deviceId: req.appdeviceid as number,
          inClusters: req.appinclusterlist as number[],
          outClusters: req.appoutclusterlist as number[],
        });
        return reply({ status: Status.SUCCESS });
      case '4:dataRequest':
      case '4:dataRequestExt':
        return this.onDataRequest(frame.subsystem, cmd, req);
      default:
        if (cmd.type === Type.SREQ) {
          this.log(`unhandled SREQ ${key}: answering FAILURE`);
          if (cmd.response?.[0]?.name === 'status') reply({ status: Status.FAILURE });
        }
    }
  }

  // ── network state ──────────────────────────────────────────────────────────────────────────

  private onResetReq(): void {
    // Startup option 0x03: clear the network state and configuration (herdsman's "clear adapter").
    const startup = this.nv.get(Nv.STARTUP_OPTION)?.[0] ?? 0;
    if (startup & 0x02) {
      for (const id of [Nv.NIB, Nv.NWK_ACTIVE_KEY_INFO, Nv.NWK_ALTERN_KEY_INFO, Nv.HAS_CONFIGURED_ZSTACK3]) this.nv.delete(id);
      for (const d of this.devices.values()) {
        d.joined = false;
        d.enrolled = false;
        this.unschedule(d.ieee);
      }
      this.save();
    }
    this.devState = DEV_HOLD;
    this.endpoints.clear();
    setTimeout(
      () => this.send(areq(Subsystem.SYS, 'resetInd', { reason: 0, transportrev: 2, productid: 1, majorrel: 2, minorrel: 7, hwrev: 1 })),
      5,
    );
  }

  private readNib(): Record<string, unknown> | null {
    const raw = this.nv.get(Nv.NIB);
    return raw ? (Structs.nib(raw, 'aligned') as Record<string, unknown>) : null;
  }

  /** BDB commissioning as a coordinator: lay out the NIB and keys from the commissioning items. */
  private commission(): void {
    const pan = this.nv.get(Nv.PANID)?.readUInt16LE(0) ?? 0x1a62;
    const epidReversed = this.nv.get(Nv.EXTENDED_PAN_ID) ?? Buffer.alloc(8, 0xdd);
    const channels = this.nv.get(Nv.CHANLIST)?.readUInt32LE(0) ?? 1 << 11;
    const channel = [...Array(16).keys()].map((i) => i + 11).find((c) => channels & (1 << c)) ?? 11;
    const key = this.nv.get(Nv.PRECFGKEY) ?? randomBytes(16);
    const nib = Structs.nib();
    Object.assign(nib, {
      SequenceNum: 0,
      PassiveAckTimeout: 5,
      MaxBroadcastRetries: 2,
      MaxChildren: 0,
      MaxDepth: 20,
      MaxRouters: 0,
      BroadcastDeliveryTime: 30,
      RouteDiscRetries: 0,
      SecureAllFrames: 1,
      SecurityLevel: 5,
      CapabilityFlags: 0x8f,
      TransactionPersistenceTime: 7,
      nwkProtocolVersion: 2,
      RouteDiscoveryTime: 13,
      RouteExpiryTime: 30,
      nwkDevAddress: 0,
      nwkLogicalChannel: channel,
      nwkCoordAddress: 0,
      nwkCoordExtAddress: Buffer.alloc(8),
      nwkPanId: pan,
      nwkState: 6,
      channelList: channels,
      extendedPANID: Buffer.from(epidReversed).reverse(),
      nwkKeyLoaded: 1,
      nwkLinkStatusPeriod: 15,
      nwkRouterAgeLimit: 3,
      nwkIsConcentrator: 1,
      nwkConcentratorDiscoveryTime: 120,
      nwkConcentratorRadius: 10,
      nwkAllFresh: 1,
      nwkUpdateId: 0,
    });
    this.nv.set(Nv.NIB, nib.serialize('aligned'));
    for (const id of [Nv.NWK_ACTIVE_KEY_INFO, Nv.NWK_ALTERN_KEY_INFO]) {
      const kd = Structs.nwkKeyDescriptor();
      kd.keySeqNum = 0;
      kd.key = Buffer.from(key);
      this.nv.set(id, kd.serialize('aligned'));
    }
    this.save();
    setTimeout(() => {
      this.startNetwork();
      this.send(areq(Subsystem.APP_CNF, 'bdbComissioningNotifcation', { status: 0 }));
    }, 20);
  }

  private startNetwork(): void {
    setTimeout(() => {
      this.devState = DEV_COORD;
      this.send(areq(Subsystem.ZDO, 'stateChangeInd', { state: DEV_COORD }));
    }, 20);
  }

  // ── ZDO ────────────────────────────────────────────────────────────────────────────────────

  private onZdo(cmd: MtCommand, data: Buffer): void {
    const cluster = cmd.zdoClusterId!;
    const ok = () => this.send(rawFrame(Type.SRSP, Subsystem.ZDO, cmd.ID, Buffer.from([Status.SUCCESS])));
    const respond = (src: number, body: Buffer, delay = 5) => {
      const rsp = zdoResponseCommand(cluster | 0x8000);
      if (!rsp) return;
      setTimeout(() => this.send(rawFrame(Type.AREQ, Subsystem.ZDO, rsp.ID, Buffer.concat([u16(src), body]))), delay);
    };
    switch (cluster) {
      case ZDO.PERMIT_JOIN: {
        // addrmode(1) dst(2) duration(1) tcSignificance(1)
        const dst = data.readUInt16LE(1);
        const duration = data[3]!;
        ok();
        this.setPermitJoin(duration);
        if (data[0] !== 0x0f) respond(dst === 0xfffc ? 0 : dst, Buffer.from([Status.SUCCESS]));
        return;
      }
      case ZDO.NWK_ADDR: {
        const ieee = `0x${hex(Buffer.from(data.subarray(0, 8)).reverse())}`;
        const d = this.devices.get(ieee);
        ok();
        const rsp = zdoResponseCommand(0x8000)!;
        const body = d?.joined ? Buffer.concat([Buffer.from([0]), ieeeBytes(ieee), u16(d.nwk), Buffer.from([0, 0])]) : Buffer.from([0x81]);
        setTimeout(() => this.send(rawFrame(Type.AREQ, Subsystem.ZDO, rsp.ID, body)), 5);
        return;
      }
      case ZDO.IEEE_ADDR: {
        const nwk = data.readUInt16LE(0);
        const d = this.byNwk(nwk);
        ok();
        const rsp = zdoResponseCommand(0x8001)!;
        const ieee = nwk === 0 ? this.coordinatorIeee : d?.ieee;
        const body = ieee ? Buffer.concat([Buffer.from([0]), ieeeBytes(ieee), u16(nwk), Buffer.from([0, 0])]) : Buffer.from([0x81]);
        setTimeout(() => this.send(rawFrame(Type.AREQ, Subsystem.ZDO, rsp.ID, body)), 5);
        return;
      }
    }
    // The rest: dst(2) first (the device addressed), then the standard request.
    const dst = data.readUInt16LE(0);
    const target = dst === 0 ? undefined : this.byNwk(dst);
    if (dst !== 0 && (!target?.joined || this.silent.has(target.ieee))) {
      // Nobody answers: the SRSP succeeds (the request left), the response never comes.
      ok();
      return;
    }
    const model = target ? MODELS[target.model]! : undefined;
    switch (cluster) {
      case ZDO.NODE_DESC: {
        ok();
        // logical type 2 = end device; 2.4 GHz; MAC capabilities: allocate address; no server bits.
        const body = Buffer.alloc(16);
        body[0] = 0;
        body.writeUInt16LE(dst, 1);
        body[3] = dst === 0 ? 0 : 2;
        body[4] = 0x40;
        body[5] = dst === 0 ? 0x8f : 0x80;
        body.writeUInt16LE(model ? model.manufacturerCode : 0, 6);
        body[8] = 80;
        body.writeUInt16LE(160, 9);
        body.writeUInt16LE(0, 11);
        body.writeUInt16LE(160, 13);
        body[15] = 0;
        return respond(dst, body);
      }
      case ZDO.ACTIVE_EP: {
        ok();
        const eps = model ? model.endpoints.map((e) => e.id) : [...this.endpoints.keys()];
        return respond(dst, Buffer.concat([Buffer.from([0]), u16(dst), Buffer.from([eps.length, ...eps])]));
      }
      case ZDO.SIMPLE_DESC: {
        ok();
        const epId = data[4]!;
        const ep = model
          ? model.endpoints.find((e) => e.id === epId)
          : this.endpoints.has(epId)
            ? { id: epId, ...this.endpoints.get(epId)! }
            : undefined;
        if (!ep) return respond(dst, Buffer.from([0x82]));
        const desc = Buffer.concat([
          Buffer.from([ep.id]),
          u16(ep.profileId),
          u16(ep.deviceId),
          Buffer.from([0, ep.inClusters.length]),
          ...ep.inClusters.map(u16),
          Buffer.from([ep.outClusters.length]),
          ...ep.outClusters.map(u16),
        ]);
        return respond(dst, Buffer.concat([Buffer.from([0]), u16(dst), Buffer.from([desc.length]), desc]));
      }
      case ZDO.BIND:
      case ZDO.UNBIND:
        ok();
        return respond(dst, Buffer.from([Status.SUCCESS]));
      case ZDO.LEAVE: {
        ok();
        respond(dst, Buffer.from([Status.SUCCESS]));
        if (target) setTimeout(() => this.leave(target.ieee), 20);
        return;
      }
      default:
        // Not supported (0x84): the SRSP succeeds and the response says so.
        ok();
        return respond(dst, Buffer.from([0x84]));
    }
  }

  private setPermitJoin(seconds: number): void {
    this.permitUntil = seconds > 0 ? Date.now() + seconds * 1000 : 0;
    if (this.joinTimer) clearTimeout(this.joinTimer);
    this.joinTimer = undefined;
    if (seconds === 0) return;
    const next = () => {
      this.joinTimer = undefined;
      if (Date.now() >= this.permitUntil || this.devState !== DEV_COORD) return;
      const waiting = [...this.devices.values()].find((d) => !d.joined && !this.silent.has(d.ieee));
      if (!waiting) return;
      this.join(waiting);
      this.joinTimer = setTimeout(next, this.opts.joinSpacingMs);
    };
    this.joinTimer = setTimeout(next, 50);
  }

  private join(d: DeviceState): void {
    d.joined = true;
    this.counts.joins++;
    this.log(`device ${d.ieee} (${MODELS[d.model]!.model}) joins as 0x${d.nwk.toString(16)}`);
    this.send(areq(Subsystem.ZDO, 'tcDeviceInd', { nwkaddr: d.nwk, extaddr: d.ieee, parentaddr: 0 }));
    const annce = Buffer.concat([u16(d.nwk), u16(d.nwk), ieeeBytes(d.ieee), Buffer.from([0x80])]);
    setTimeout(() => this.send(rawFrame(Type.AREQ, Subsystem.ZDO, zdoResponseCommand(0x0013)!.ID, annce)), 10);
    this.schedule(d);
    this.save();
  }

  // ── AF / ZCL ───────────────────────────────────────────────────────────────────────────────

  private onDataRequest(subsystem: number, cmd: MtCommand, req: Record<string, unknown>): void {
    this.counts.dataRequests++;
    this.send(srsp(subsystem, cmd, { status: Status.SUCCESS }));
    const transid = req.transid as number;
    const srcEp = req.srcendpoint as number;
    const dstEp = req.destendpoint as number;
    const clusterId = req.clusterid as number;
    const data = req.data as Buffer;
    const dstaddr = typeof req.dstaddr === 'number' ? req.dstaddr : Number.parseInt(String(req.dstaddr).slice(-4), 16);
    const d = this.byNwk(dstaddr);
    const confirm = (status: number): void => {
      setTimeout(() => this.send(areq(Subsystem.AF, 'dataConfirm', { status, endpoint: srcEp, transid })), 3);
    };
    // Broadcasts (Green Power pairing, permit join to all) are sent and confirmed; nobody answers.
    if (dstaddr >= 0xfff8 || (req.dstaddrmode !== undefined && req.dstaddrmode !== 2 && req.dstaddrmode !== 3))
      return confirm(Status.SUCCESS);
    if (!d?.joined) return confirm(Status.NWK_NO_ROUTE);
    if (this.silent.has(d.ieee)) return confirm(Status.MAC_TRANSACTION_EXPIRED);
    for (const key of [d.ieee, '*']) {
      const left = this.failing.get(key);
      if (left !== undefined && left > 0) {
        this.failing.set(key, left - 1);
        this.counts.failedDeliveries++;
        return confirm(Status.MAC_NO_ACK);
      }
    }
    confirm(Status.SUCCESS);
    let zcl: Zcl.Frame;
    try {
      zcl = Zcl.Frame.fromBuffer(clusterId, Zcl.Header.fromBuffer(data), data, {});
    } catch (err) {
      this.log(`undecodable ZCL to ${d.ieee} cluster ${clusterId}: ${(err as Error).message}`);
      return;
    }
    const answers = this.answer(d, zcl, clusterId, dstEp);
    answers.forEach((a, i) => {
      setTimeout(() => this.deliver(d, a.clusterId, a.endpoint, a.frame, srcEp), 8 + i * 5);
    });
  }

  /** The device's answer(s) to a ZCL frame from the coordinator. */
  private answer(d: DeviceState, zcl: Zcl.Frame, clusterId: number, ep: number): { clusterId: number; endpoint: number; frame: Buffer }[] {
    const model = MODELS[d.model]!;
    const h = zcl.header;
    const tsn = h.transactionSequenceNumber;
    const reply = (commandKey: string, payload: unknown, specific = false) => ({
      clusterId,
      endpoint: ep,
      frame: Zcl.Frame.create(
        specific ? Zcl.FrameType.SPECIFIC : Zcl.FrameType.GLOBAL,
        Zcl.Direction.SERVER_TO_CLIENT,
        true,
        h.manufacturerCode,
        tsn,
        commandKey,
        clusterId,
        payload,
        {},
      ).toBuffer(),
    });
    const defaultRsp = (status = 0) =>
      h.frameControl.disableDefaultResponse ? [] : [reply('defaultRsp', { cmdId: h.commandIdentifier, statusCode: status })];
    if (h.isGlobal) {
      const attrs = model.attributes(d)[clusterId] ?? {};
      switch (zcl.command.name) {
        case 'read': {
          const records = (zcl.payload as { attrId: number }[]).map(({ attrId }) => {
            const a = attrs[attrId];
            return a ? { attrId, status: 0, dataType: a.type, attrData: a.value } : { attrId, status: 0x86 };
          });
          return [reply('readRsp', records)];
        }
        case 'write': {
          for (const rec of zcl.payload as { attrId: number; attrData: unknown }[]) {
            if (clusterId === 0x0500 && rec.attrId === 0x0010) d.cieAddr = String(rec.attrData);
          }
          this.save();
          return [reply('writeRsp', [{ status: 0 }])];
        }
        case 'configReport':
          return [reply('configReportRsp', [{ status: 0 }])];
        case 'defaultRsp':
          return [];
        default:
          return defaultRsp(0x82);
      }
    }
    // Cluster-specific commands.
    if (clusterId === 0x0500 && zcl.command.name === 'enrollRsp') {
      d.enrolled = true;
      this.save();
      return [];
    }
    if (clusterId === 0xef00 && model.tuyaDatapoints) {
      const out = defaultRsp(0);
      if (zcl.command.name === 'dataQuery') out.push({ ...tuyaReport(model.tuyaDatapoints(d), (tsn + 1) & 0xff), endpoint: ep });
      return out;
    }
    return defaultRsp(0);
  }

  private deliver(d: DeviceState, clusterId: number, endpoint: number, frame: Buffer, dstEndpoint = 1): void {
    if (this.devState !== DEV_COORD || !this.socket) return;
    this.send(
      areq(Subsystem.AF, 'incomingMsg', {
        groupid: 0,
        clusterid: clusterId,
        srcaddr: d.nwk,
        srcendpoint: endpoint,
        dstendpoint: dstEndpoint,
        wasbroadcast: 0,
        linkquality: 120 + (d.nwk % 60),
        securityuse: 0,
        timestamp: Date.now() & 0x7fffffff,
        transseqnumber: 0,
        len: frame.length,
        data: frame,
      }),
    );
  }

  // ── scheduled reports ──────────────────────────────────────────────────────────────────────

  private schedule(d: DeviceState): void {
    this.unschedule(d.ieee);
    if (this.opts.intervalMs <= 0) return;
    const model = MODELS[d.model]!;
    const every = this.opts.intervalMs * model.period;
    // Spread devices over the interval so they do not all report at once.
    const offset = (Number.parseInt(d.ieee.slice(-4), 16) % 97) / 97;
    const tick = (delay: number) => {
      const t = setTimeout(() => {
        if (d.joined && !this.silent.has(d.ieee) && this.devState === DEV_COORD && this.socket) {
          advance(d);
          this.sendReports(d);
        }
        tick(every);
      }, delay);
      t.unref();
      this.timers.set(d.ieee, t);
    };
    tick(Math.round(every * (0.2 + offset * 0.8)));
  }

  private unschedule(ieee: string): void {
    const t = this.timers.get(ieee);
    if (t) clearTimeout(t);
    this.timers.delete(ieee);
  }

  private sendReports(d: DeviceState): void {
    if (!d.joined || this.silent.has(d.ieee)) return;
    const model: ModelSpec = MODELS[d.model]!;
    const messages = model.report(d, this.nextTsn());
    d.reports++;
    this.counts.reports++;
    messages.forEach((m, i) => {
      setTimeout(() => this.deliver(d, m.clusterId, m.endpoint, m.frame), i * 3);
    });
  }

  // ── state ──────────────────────────────────────────────────────────────────────────────────

  private nextTsn(): number {
    this.tsn = (this.tsn + 3) & 0xff;
    return this.tsn;
  }

  private allocNwk(): number {
    const used = new Set([...this.devices.values()].map((d) => d.nwk));
    while (used.has(this.nextNwk)) this.nextNwk++;
    return this.nextNwk++;
  }

  private byNwk(nwk: number): DeviceState | undefined {
    for (const d of this.devices.values()) if (d.nwk === nwk) return d;
    return undefined;
  }

  private device(ieee: string): DeviceState {
    const d = this.devices.get(ieee);
    if (!d) throw new Error(`zstack emulator: no virtual device ${ieee} (known: ${[...this.devices.keys()].join(', ')})`);
    return d;
  }

  private load(): void {
    const path = this.opts.statePath;
    let saved: PersistedState | undefined;
    if (path && existsSync(path)) saved = JSON.parse(readFileSync(path, 'utf8')) as PersistedState;
    this.coordinatorIeee = saved?.coordinatorIeee ?? `0x00124b00${randomBytes(4).toString('hex')}`;
    this.nv = new Map(Object.entries(saved?.nv ?? {}).map(([k, v]) => [Number(k), Buffer.from(v, 'hex')]));
    // A CC26x2 lays NV out aligned: the NWKKEY item is 24 bytes (herdsman detects alignment from it).
    if (!this.nv.has(Nv.NWKKEY)) this.nv.set(Nv.NWKKEY, Buffer.alloc(24));
    this.devices.clear();
    for (const d of saved?.devices ?? []) this.devices.set(d.ieee, { ...d, reports: 0 });
    for (const spec of this.opts.devices) {
      if (!MODELS[spec.model]) throw new Error(`zstack emulator: unknown model '${spec.model}' (known: ${Object.keys(MODELS).join(', ')})`);
      if (!this.devices.has(spec.ieee)) this.devices.set(spec.ieee, newDeviceState(spec.model, spec.ieee, this.allocNwk()));
    }
    this.devState = DEV_HOLD;
  }

  private save(): void {
    const path = this.opts.statePath;
    if (!path) return;
    const state: PersistedState = {
      version: 1,
      coordinatorIeee: this.coordinatorIeee,
      nv: Object.fromEntries([...this.nv].map(([k, v]) => [String(k), hex(v)])),
      devices: [...this.devices.values()],
    };
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(`${path}.tmp`, JSON.stringify(state, null, 1));
    renameSync(`${path}.tmp`, path);
  }

  private log(msg: string): void {
    this.opts.log?.(`zstack-emu: ${msg}`);
  }
}
