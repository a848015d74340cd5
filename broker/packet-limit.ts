// Refuses an oversize MQTT packet as soon as its fixed header announces its length, before
// the body is buffered.
//
// Why this reaches into aedes: aedes 1.2.0 has no max-packet-size option, and mqtt-packet 9's
// parser has none either (its `maximumPacketSize` is only an MQTT 5 CONNECT property). The
// parser reads the "remaining length" (up to 256 MiB) in `_parseLength` and then waits until
// that many bytes are buffered, so a client — even one that never authenticates — could make
// the broker hold 256 MiB per connection. `Aedes.handle()` returns the Client it creates, whose
// `_parser` is a per-connection mqtt-packet Parser; we wrap that instance's `_parseLength` so
// that a declared length over the limit raises a parser error, which aedes already treats as
// fatal for the connection (client 'error' → conn.destroy()).
//
// If a future aedes changes these internals, `limitPacketSize` returns false; the broker then
// logs that the early guard is off, and `authorizePublish` still refuses oversize payloads
// (after buffering them), so the limit holds either way, only later.

import type { Client } from 'aedes';

interface ParserInternals {
  packet: { length: number; cmd?: string };
  _parseLength: () => boolean;
  _emitError: (err: Error) => void;
}

export class PacketTooLargeError extends Error {
  override name = 'PacketTooLargeError';
  readonly bytes: number;
  readonly limit: number;
  readonly cmd: string | undefined;
  constructor(bytes: number, limit: number, cmd: string | undefined) {
    super(`${cmd ?? 'packet'} of ${bytes} bytes exceeds the limit of ${limit} bytes`);
    this.bytes = bytes;
    this.limit = limit;
    this.cmd = cmd;
  }
}

/**
 * `maxBytes` bounds the remaining length (variable header + payload), i.e. the packet minus its
 * 2–5 byte fixed header. Returns false when the parser internals are not what we expect.
 */
export function limitPacketSize(client: Client, maxBytes: number, onTooLarge: (err: PacketTooLargeError) => void): boolean {
  const parser = (client as unknown as { _parser?: Partial<ParserInternals> })._parser;
  if (!parser || typeof parser._parseLength !== 'function' || typeof parser._emitError !== 'function' || typeof parser.packet !== 'object')
    return false;
  const p = parser as ParserInternals;
  const original = p._parseLength;
  p._parseLength = function guardedParseLength(this: ParserInternals): boolean {
    const ok = original.call(this);
    if (ok && this.packet.length > maxBytes) {
      const err = new PacketTooLargeError(this.packet.length, maxBytes, this.packet.cmd);
      onTooLarge(err);
      this._emitError(err);
      return false;
    }
    return ok;
  };
  return true;
}
