// gateway/: the edge gateway role. `startGateway(config)` wires the durable outbox, the uplink
// (one MQTT connection to the centre) and the sources (Zigbee via herdsman, Zigbee2MQTT, vendor
// MQTT); the pieces are exported for tests and the simulators.
export { SqliteOutbox, MemoryOutbox, OutboxFullError, DEFAULT_MAX_READINGS, MAX_READING_BYTES } from './outbox.ts';
export type { Outbox, OutboxOptions, OutboxStats } from './outbox.ts';
export { Uplink } from './uplink.ts';
export type { UplinkOptions, UplinkStats } from './uplink.ts';
export { startGateway, gatewayIdentity } from './gateway.ts';
export type { Gateway, GatewayOptions } from './gateway.ts';
export type { Source, SourceSink, DeviceHealth } from './source.ts';
export { HerdsmanSource } from './zigbee/herdsman-source.ts';
export { kindFor, kindFromModel, valuesFor, qualityFrom, exposeProperties } from './zigbee/mapping.ts';
export { Z2mSource } from './z2m-source.ts';
export { VendorMqttSource, loadVendorMap, parseVendorMap, mapMessage, topicMatches } from './vendor-mqtt-source.ts';
export { loadDevicesFile } from './devices-file.ts';
