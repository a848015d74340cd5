// The Z-Stack Monitor-and-Test (MT) wire format as the emulator speaks it: UNPI frames
// (SOF 0xFE, length, cmd0 = type << 5 | subsystem, cmd1, data, XOR checksum) carrying MT
// commands. Decision: the command tables (ids and parameter layouts) and the field codecs come
// from zigbee-herdsman's own MT definitions (MIT, pinned 10.9.5), imported by path — so the
// emulator and the host can never disagree on a layout. These are not herdsman's public API:
// a herdsman upgrade must re-run test/zigbee. Everything the emulator *does* with the commands
// (NV store, commissioning, joins, the virtual devices) is our own code.

import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const base = 'zigbee-herdsman/dist/adapter/z-stack';

interface MtParameter {
  name: string;
  parameterType: number;
}
export interface MtCommand {
  name: string;
  ID: number;
  type: number;
  request?: MtParameter[];
  response?: MtParameter[];
  zdoClusterId?: number;
}
interface UnpiFrame {
  type: number;
  subsystem: number;
  commandID: number;
  data: Buffer;
  toBuffer(): Buffer;
}
interface BuffaloLike {
  write(type: number, value: unknown, options: object): void;
  read(type: number, options: { length?: number }): unknown;
  getWritten(): Buffer;
}

const definition = (require(`${base}/znp/definition`) as { default: Record<number, MtCommand[]> }).default;
const BuffaloZnp = (require(`${base}/znp/buffaloZnp`) as { default: new (b: Buffer) => BuffaloLike }).default;
const ParameterType = (require(`${base}/znp/parameterType`) as { default: Record<string, number> }).default;
const { Frame } = require(`${base}/unpi/frame`) as {
  Frame: new (type: number, subsystem: number, commandID: number, data: Buffer) => UnpiFrame;
};
/** herdsman's NV structs (NIB, key descriptors), used to lay out the items the host reads back. */
export const Structs = require(`${base}/structs`) as {
  nib(data?: Buffer, alignment?: string): Record<string, unknown> & { serialize(alignment?: string): Buffer };
  nwkKeyDescriptor(data?: Buffer, alignment?: string): { keySeqNum: number; key: Buffer; serialize(alignment?: string): Buffer };
};

export type { UnpiFrame };

export const Type = { POLL: 0, SREQ: 1, AREQ: 2, SRSP: 3 } as const;
export const Subsystem = { SYS: 1, AF: 4, ZDO: 5, SAPI: 6, UTIL: 7, APP_CNF: 15 } as const;
export const Status = {
  SUCCESS: 0,
  FAILURE: 1,
  INVALID_PARAMETER: 2,
  NV_ITEM_INITIALIZED: 9,
  NWK_NO_ROUTE: 0xcd,
  MAC_NO_ACK: 0xe9,
  MAC_TRANSACTION_EXPIRED: 0xf0,
} as const;
/** NV item ids the emulator gives meaning to (Z-Stack 3.x numbering). */
export const Nv = {
  STARTUP_OPTION: 0x03,
  NIB: 0x21,
  EXTENDED_PAN_ID: 0x2d,
  NWK_ACTIVE_KEY_INFO: 0x3a,
  NWK_ALTERN_KEY_INFO: 0x3b,
  HAS_CONFIGURED_ZSTACK3: 0x60,
  PRECFGKEY: 0x62,
  PRECFGKEYS_ENABLE: 0x63,
  NWKKEY: 0x82,
  PANID: 0x83,
  CHANLIST: 0x84,
} as const;

const BUFFER_TYPES = new Set(
  ['BUFFER', 'BUFFER8', 'BUFFER16', 'BUFFER18', 'BUFFER32', 'BUFFER42', 'BUFFER100', 'LIST_UINT16', 'LIST_NETWORK', 'LIST_UINT8'].map(
    (n) => ParameterType[n],
  ),
);

export function command(subsystem: number, key: string | number): MtCommand | undefined {
  return definition[subsystem]?.find((c) => (typeof key === 'string' ? c.name === key : c.ID === key));
}

export function isZdoSreq(cmd: MtCommand): boolean {
  return cmd.type === Type.SREQ && cmd.zdoClusterId !== undefined;
}

/** The AREQ that carries a ZDO response cluster back to the host. */
export function zdoResponseCommand(responseClusterId: number): MtCommand | undefined {
  return definition[Subsystem.ZDO]!.find((c) => c.type === Type.AREQ && c.zdoClusterId === responseClusterId);
}

/** Decodes the request parameters of an SREQ/AREQ sent by the host. */
export function decodeRequest(cmd: MtCommand, data: Buffer): Record<string, unknown> {
  const params = cmd.request ?? [];
  const buffalo = new BuffaloZnp(data) as BuffaloLike;
  const out: Record<string, unknown> = {};
  params.forEach((p, i) => {
    const options: { length?: number } = {};
    if (BUFFER_TYPES.has(p.parameterType)) {
      const prev = params[i - 1];
      const len = prev ? out[prev.name] : undefined;
      if (typeof len === 'number') options.length = len;
    }
    out[p.name] = buffalo.read(p.parameterType, options);
  });
  return out;
}

function encodeParams(params: MtParameter[], payload: Record<string, unknown>): Buffer {
  const buffalo = new BuffaloZnp(Buffer.alloc(256));
  for (const p of params) buffalo.write(p.parameterType, payload[p.name], {});
  return buffalo.getWritten();
}

/** An SRSP answering `cmd`. */
export function srsp(subsystem: number, cmd: MtCommand, payload: Record<string, unknown>): Buffer {
  return new Frame(Type.SRSP, subsystem, cmd.ID, encodeParams(cmd.response ?? [], payload)).toBuffer();
}

/** An AREQ from the coordinator (indications, confirms, incoming messages). */
export function areq(subsystem: number, name: string, payload: Record<string, unknown>): Buffer {
  const cmd = command(subsystem, name);
  if (!cmd) throw new Error(`no MT command ${name} in subsystem ${subsystem}`);
  return new Frame(Type.AREQ, subsystem, cmd.ID, encodeParams(cmd.request ?? [], payload)).toBuffer();
}

/** A raw frame (ZDO AREQs carry srcaddr + a standard ZDO response, which we lay out ourselves). */
export function rawFrame(type: number, subsystem: number, commandId: number, data: Buffer): Buffer {
  return new Frame(type, subsystem, commandId, data).toBuffer();
}

/**
 * Splits a byte stream into UNPI frames (our own: herdsman's parser logs every byte through its
 * global logger). Bytes before a SOF are skipped; a frame with a bad checksum is dropped.
 */
export function newParser(onFrame: (f: UnpiFrame) => void): (chunk: Buffer) => void {
  let buf: Buffer = Buffer.alloc(0);
  return (chunk) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    for (;;) {
      const sof = buf.indexOf(0xfe);
      if (sof < 0) {
        buf = Buffer.alloc(0);
        return;
      }
      if (sof > 0) buf = buf.subarray(sof);
      if (buf.length < 5) return;
      const len = buf[1]!;
      if (buf.length < len + 5) return;
      const body = buf.subarray(1, len + 4);
      let fcs = 0;
      for (const b of body) fcs ^= b;
      const ok = fcs === buf[len + 4];
      const cmd0 = buf[2]!;
      const frame = new Frame(cmd0 >> 5, cmd0 & 0x1f, buf[3]!, Buffer.from(buf.subarray(4, 4 + len)));
      buf = buf.subarray(len + 5);
      if (ok) onFrame(frame);
    }
  };
}
