// What every source of readings (herdsman, Zigbee2MQTT, vendor MQTT) gives the gateway core:
// normalised readings (without seq: the outbox assigns it), events, and what it knows about
// its devices for health. A source never touches the outbox or the uplink itself.

import type { GatewayEvent, Reading } from '../devices/contract.ts';

export interface DeviceHealth {
  lastSeen: number;
  battery?: number;
  lqi?: number;
}

export interface SourceSink {
  /** A normalised reading (checked against the catalogue before it is queued). */
  reading(r: Omit<Reading, 'seq'>): void;
  /** An event for `…/events` (device joined, interview, left, adapter down/up …). */
  event(type: GatewayEvent['type'], dev?: string, data?: Record<string, unknown>): void;
}

export interface Source {
  readonly name: string;
  start(sink: SourceSink): Promise<void>;
  stop(): Promise<void>;
  /** Per-device last seen, battery and link quality. */
  devices(): Record<string, DeviceHealth>;
  /** 'up' | 'down' for sources with an adapter or a broker connection. */
  state(): 'up' | 'down';
  /** Re-read configuration files (overrides, mappings). */
  reload?(): Promise<void> | void;
}
