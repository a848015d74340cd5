// gateway/: the edge gateway role. For now its entry exports the durable outbox and the uplink;
// the sources (Zigbee via herdsman, Zigbee2MQTT, vendor MQTT) and the wiring come later.
export { SqliteOutbox, MemoryOutbox, OutboxFullError, DEFAULT_MAX_READINGS, MAX_READING_BYTES } from './outbox.ts';
export type { Outbox, OutboxOptions, OutboxStats } from './outbox.ts';
export { Uplink } from './uplink.ts';
export type { UplinkOptions, UplinkStats } from './uplink.ts';
