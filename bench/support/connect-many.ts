// Opens `count` MQTT connections (the shape of a fleet of idle gateways) and closes them again;
// resolves with how many connected. For peer measurements of connection cost.
import mqtt from 'mqtt';
import { sleep } from '../../lib/timeout.ts';

export async function connectMany(url: string, count: number, perBatch = 200): Promise<number> {
  const clients: mqtt.MqttClient[] = [];
  let connected = 0;
  for (let i = 0; i < count; i += perBatch) {
    const batch = Array.from({ length: Math.min(perBatch, count - i) }, (_, j) =>
      mqtt.connectAsync(url, { clientId: `peer-${i + j}`, reconnectPeriod: 0, connectTimeout: 20_000 }).then(
        (c) => {
          clients.push(c);
          connected++;
        },
        () => undefined,
      ),
    );
    await Promise.all(batch);
  }
  await sleep(1000);
  await Promise.all(clients.map((c) => c.endAsync(true)));
  return connected;
}
