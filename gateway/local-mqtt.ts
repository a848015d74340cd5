// A client for the broker inside the home (Zigbee2MQTT, vendor devices). Separate from the
// uplink: this one only reads. Reconnects forever; subscriptions are renewed on every connect.

import { connect, type MqttClient } from 'mqtt';
import type { Logger } from '../lib/log.ts';

export function connectLocal(
  url: string,
  filters: string[],
  onMessage: (topic: string, payload: Buffer, retained: boolean) => void,
  log: Logger,
  clientId: string,
): { client: MqttClient; connected(): boolean; close(): Promise<void> } {
  const client = connect(url, { clientId, clean: true, reconnectPeriod: 2000, connectTimeout: 10_000, resubscribe: false });
  let up = false;
  let warned = false;
  client.on('connect', () => {
    up = true;
    warned = false;
    client.subscribe(
      filters.map((f) => f),
      { qos: 1 },
      (err) => {
        if (err) log.error({ err: err.message, filters }, 'local mqtt: subscription refused');
      },
    );
    log.info({ url, filters }, 'local mqtt: connected');
  });
  client.on('close', () => {
    up = false;
  });
  client.on('error', (err) => {
    if (!warned) log.warn({ url, err: err.message }, 'local mqtt: cannot reach the broker; retrying');
    warned = true;
  });
  client.on('message', (topic, payload, packet) => onMessage(topic, payload, Boolean(packet.retain)));
  return {
    client,
    connected: () => up,
    close: () => new Promise<void>((resolve) => client.end(true, {}, () => resolve())),
  };
}
