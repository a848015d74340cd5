// Hostile input at the broker (docs/security.md): what a gateway's credential can do to the
// centre through MQTT alone. Real broker on an ephemeral port, real mqtt.js clients.

import { connect as tcpConnect } from 'node:net';
import type { MqttClient } from 'mqtt';
import { withTimeout } from '../../lib/timeout.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/servers.ts';
import { closed, collect, connect, connectOutcome, refusals, startTestBroker, type TestBroker } from '../support/broker.ts';

/**
 * The CONNACK return code a raw MQTT 3.1.1 CONNECT gets. mqtt.js refuses to send a zero-length
 * client id without a clean session, so this test writes the packet itself ([MQTT-3.1]).
 */
async function rawConnack(port: number, o: { clientId: string; clean: boolean; username: string; password: string }): Promise<number> {
  const str = (v: string) => {
    const b = Buffer.from(v, 'utf8');
    return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]);
  };
  const flags = 0x80 | 0x40 | (o.clean ? 0x02 : 0);
  const body = Buffer.concat([str('MQTT'), Buffer.from([4, flags, 0, 60]), str(o.clientId), str(o.username), str(o.password)]);
  if (body.length > 127) throw new Error('test CONNECT too long for a one-byte remaining length');
  const socket = tcpConnect(port, '127.0.0.1');
  socket.write(Buffer.concat([Buffer.from([0x10, body.length]), body]));
  try {
    const ack = await withTimeout(new Promise<Buffer>((resolve) => socket.once('data', resolve)), 5000, 'no CONNACK within 5 s');
    if (ack[0] !== 0x20) throw new Error(`expected a CONNACK, got packet type 0x${ack[0]?.toString(16)}`);
    return ack[3]!;
  } finally {
    socket.destroy();
  }
}

let b: TestBroker;
const open: MqttClient[] = [];
const track = (c: MqttClient) => {
  open.push(c);
  return c;
};

beforeAll(async () => {
  b = await startTestBroker();
});
afterAll(async () => {
  await Promise.all(open.map((c) => c.endAsync(true).catch(() => undefined)));
  await b.stop();
});

describe('broker: identity and retained messages', () => {
  it('refuses a zero-length client id with clean session 0 (CONNACK 2, MQTT 3.1.1 3.1.3-8), logged and counted', async () => {
    const g = b.store.addGateway('sec-a', 'gw-1', { rotate: true });
    const before = await refusals('client_id_rejected');
    const port = b.handle.ports.tcp;
    expect(await rawConnack(port, { clientId: '', clean: false, username: g.username, password: g.password })).toBe(2);
    expect(await refusals('client_id_rejected')).toBe(before + 1);
    expect(b.logs.some((l) => l.reason === 'client_id_rejected' && l.username === g.username)).toBe(true);
    // A zero-length id with a clean session is allowed (the broker names it), and so is a named persistent session.
    expect(await rawConnack(port, { clientId: '', clean: true, username: g.username, password: g.password })).toBe(0);
    expect(await connectOutcome(b.url, g.username, g.password, { clientId: 'sec-a-gw-1', clean: false })).toBe('connected');
  });

  it('cannot lock a gateway out by taking its client id (gw-…) while it is offline, with a persistent session', async () => {
    // Red team, finding 1: g2 connected as g1's id with clean session 0 while g1 was away; the claim
    // outlived g2's connection and g1 (which always connects with that id) was refused for good.
    const g1 = b.store.addGateway('sec-s1', 'g1', { rotate: true });
    const g2 = b.store.addGateway('sec-s2', 'g2', { rotate: true });
    const before = await refusals('client_id_rejected');
    expect(await connectOutcome(b.url, g2.username, g2.password, { clientId: 'gw-sec-s1.g1', clean: false })).toBe(2);
    expect(await connectOutcome(b.url, g2.username, g2.password, { clientId: 'gw-sec-s1.g1' })).toBe(2);
    expect(await connectOutcome(b.url, b.services.admin.username, b.services.admin.password, { clientId: 'gw-sec-s1.g1' })).toBe(2);
    expect(await refusals('client_id_rejected')).toBe(before + 3);
    expect(b.logs.some((l) => l.reason === 'client_id_rejected' && l.username === g2.username)).toBe(true);
    // The rightful gateway connects with its own id, persistent or not, and ids that extend it.
    expect(await connectOutcome(b.url, g1.username, g1.password, { clientId: 'gw-sec-s1.g1', clean: false })).toBe('connected');
    expect(await connectOutcome(b.url, g1.username, g1.password, { clientId: 'gw-sec-s1.g1.bench' })).toBe('connected');
    // Names with dashes cannot make one gateway's id another's (second red-team pass): site sec-p's
    // gateway g1 may not use gateway g1-x's id, nor site sec-p-g1's gateway x's.
    const g1p = b.store.addGateway('sec-p', 'g1', { rotate: true });
    b.store.addGateway('sec-p', 'g1-x', { rotate: true });
    const xp = b.store.addGateway('sec-p-g1', 'x', { rotate: true });
    expect(await connectOutcome(b.url, g1p.username, g1p.password, { clientId: 'gw-sec-p.g1-x', clean: false })).toBe(2);
    expect(await connectOutcome(b.url, g1p.username, g1p.password, { clientId: 'gw-sec-p-g1.x', clean: false })).toBe(2);
    expect(await connectOutcome(b.url, xp.username, xp.password, { clientId: 'gw-sec-p-g1.x', clean: false })).toBe('connected');
    // Ids outside the gateways' prefix stay free to use, for any credential.
    expect(await connectOutcome(b.url, g2.username, g2.password, { clientId: 'mosq-tool-1' })).toBe('connected');
  });

  it("keeps a gateway's own retained state, refuses any other retained publish and delivers nothing of it", async () => {
    const g = b.store.addGateway('sec-b', 'gw-1', { rotate: true });
    const gw = track(await connect(b.url, g.username, g.password));
    await gw.publishAsync('lab/v1/sec-b/gw-1/state', '{"online":true}', { qos: 1, retain: true });

    const before = await refusals('retain_denied');
    const gone = closed(gw);
    gw.publish('lab/v1/sec-b/gw-1/up', '{"stale":true}', { qos: 1, retain: true });
    await gone;
    expect(await refusals('retain_denied')).toBe(before + 1);
    expect(b.logs.find((l) => l.reason === 'retain_denied' && l.username === g.username)).toMatchObject({ topic: 'lab/v1/sec-b/gw-1/up' });

    // A subscriber arriving later gets the retained state, and no retained reading.
    const monitor = track(await connect(b.url, b.services.monitor.username, b.services.monitor.password));
    const got = collect(monitor);
    await monitor.subscribeAsync('lab/v1/sec-b/gw-1/#', { qos: 1 });
    await waitFor('the retained state', async () => got.some((m) => m.topic === 'lab/v1/sec-b/gw-1/state'));
    expect(got.map((m) => m.topic)).toEqual(['lab/v1/sec-b/gw-1/state']);
  });

  it('refuses a retained command from the admin service (it would re-run on every reconnect)', async () => {
    const admin = track(await connect(b.url, b.services.admin.username, b.services.admin.password));
    const before = await refusals('retain_denied');
    const gone = closed(admin);
    admin.publish('lab/v1/sec-c/gw-1/cmd/permit_join', '{"seconds":60}', { qos: 1, retain: true });
    await gone;
    expect(await refusals('retain_denied')).toBe(before + 1);
  });
});
