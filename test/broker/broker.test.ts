import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createConnection, createServer } from 'node:net';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import type { MqttClient } from 'mqtt';
import { CredentialStore } from '../../broker/credentials.ts';
import { startBroker } from '../../broker/index.ts';
import { silentLogger } from '../../lib/log.ts';
import { freePort, tempDir, waitFor } from '../support/servers.ts';
import { localMetricSum } from '../support/metrics.ts';
import { startTestBroker, connect, connectOutcome, closed, refusals, collect, type TestBroker } from '../support/broker.ts';
import { sleep, withTimeout } from '../../lib/timeout.ts';
import { runCommand } from '../support/processes.ts';

const MAX_PACKET = 64 * 1024;

let b: TestBroker;
let certFile: string;
const open: MqttClient[] = [];
const track = <T extends MqttClient>(c: T) => {
  open.push(c);
  return c;
};

beforeAll(async () => {
  const certDir = tempDir('testbed-cert-');
  certFile = join(certDir, 'cert.pem');
  const keyFile = join(certDir, 'key.pem');
  const gen = await runCommand('/usr/bin/openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    keyFile,
    '-out',
    certFile,
    '-days',
    '2',
    '-subj',
    '/CN=localhost',
    '-addext',
    'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ]);
  expect(gen.code, gen.stderr).toBe(0);
  b = await startTestBroker({
    mqttWsPort: await freePort(),
    mqttMaxPacketBytes: MAX_PACKET,
    mqttConnectsPerMinute: 10_000,
    mqttTlsCert: certFile,
    mqttTlsKey: keyFile,
  });
});

afterAll(async () => {
  await Promise.all(open.map((c) => c.endAsync(true).catch(() => {})));
  await b?.stop();
});

/** A fresh gateway credential. */
const gateway = (site: string, gw: string) => b.store.addGateway(site, gw, { rotate: true });

async function ingest(filter = 'lab/v1/+/+/up') {
  const c = track(await connect(b.url, b.services.ingest.username, b.services.ingest.password));
  const got = collect(c);
  await c.subscribeAsync(filter, { qos: 1 });
  return { c, got };
}

const mosquittoAuth = (port: number, u: string, p: string) => ['-h', '127.0.0.1', '-p', String(port), '-u', u, '-P', p, '-V', 'mqttv311'];

describe('broker', () => {
  it('reports the ephemeral ports it bound', () => {
    expect(b.handle.ports.tcp).toBeGreaterThan(0);
    expect(b.handle.ports.tls).toBeGreaterThan(0);
    expect(b.handle.ports.ws).toBeGreaterThan(0);
    expect(new Set(Object.values(b.handle.ports)).size).toBe(3);
  });

  it('delivers a gateway publish (mosquitto_pub) to its up topic to the ingest service (mqtt.js), and back the other way', async () => {
    const cred = gateway('home-a', 'gw-1');
    const { got } = await ingest();
    const pub = await runCommand('mosquitto_pub', [
      ...mosquittoAuth(b.handle.ports.tcp, cred.username, cred.password),
      '-q',
      '1',
      '-t',
      'lab/v1/home-a/gw-1/up',
      '-m',
      '{"batch":1}',
    ]);
    expect(pub.code, pub.stderr).toBe(0);
    await waitFor('the reading at ingest', async () => got.length === 1);
    expect(got[0]).toEqual({ topic: 'lab/v1/home-a/gw-1/up', payload: '{"batch":1}' });

    // mqtt.js gateway → mosquitto_sub as the ingest service.
    const sub = runCommand('mosquitto_sub', [
      ...mosquittoAuth(b.handle.ports.tcp, b.services.ingest.username, b.services.ingest.password),
      '-q',
      '1',
      '-t',
      'lab/v1/+/+/up',
      '-C',
      '1',
      '-W',
      '10',
      '-v',
    ]);
    const gw = track(await connect(b.url, cred.username, cred.password));
    // mosquitto_sub needs a moment to subscribe; publish until it has what it waits for.
    const timer = setInterval(() => gw.publish('lab/v1/home-a/gw-1/up', '{"batch":2}', { qos: 1 }), 100);
    const out = await sub.finally(() => clearInterval(timer));
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout.trim()).toBe('lab/v1/home-a/gw-1/up {"batch":2}');
  });

  it('refuses a wrong password (mosquitto_pub: not authorised), logs it and counts it', async () => {
    const cred = gateway('home-a', 'gw-pw');
    const before = await refusals('bad_credentials');
    const pub = await runCommand('mosquitto_pub', [
      ...mosquittoAuth(b.handle.ports.tcp, cred.username, `${cred.password}x`),
      '-t',
      'lab/v1/home-a/gw-pw/up',
      '-m',
      'x',
    ]);
    expect(pub.code).not.toBe(0);
    expect(pub.stderr).toMatch(/not authori[sz]ed/i);
    expect(await connectOutcome(b.url, cred.username, 'wrong')).toBe(5);
    expect(await refusals('bad_credentials')).toBe(before + 2);
    const line = b.logs.find((l) => l.msg === 'refused' && l.reason === 'bad_credentials' && l.username === cred.username);
    expect(line).toMatchObject({ level: 40, remote: '127.0.0.1', clientId: expect.any(String) });
  });

  it('refuses unknown users and connects without credentials', async () => {
    const pub = await runCommand('mosquitto_pub', [
      ...mosquittoAuth(b.handle.ports.tcp, 'home-z.gw-9', 'whatever'),
      '-t',
      'lab/v1/home-z/gw-9/up',
      '-m',
      'x',
    ]);
    expect(pub.code).not.toBe(0);
    expect(pub.stderr).toMatch(/not authori[sz]ed/i);
    const anon = await runCommand('mosquitto_pub', [
      '-h',
      '127.0.0.1',
      '-p',
      String(b.handle.ports.tcp),
      '-t',
      'lab/v1/home-z/gw-9/up',
      '-m',
      'x',
    ]);
    expect(anon.code).not.toBe(0);
    expect(anon.stderr).toMatch(/not authori[sz]ed/i);
  });

  it("disconnects a gateway publishing into another gateway's topic and delivers nothing", async () => {
    const g1 = gateway('home-b', 'gw-1');
    const g2 = gateway('home-b', 'gw-2');
    const { got } = await ingest();
    const before = await refusals('publish_denied');
    const intruder = track(await connect(b.url, g1.username, g1.password));
    const gone = closed(intruder);
    intruder.publish('lab/v1/home-b/gw-2/up', '{"forged":true}', { qos: 1 });
    await gone;
    expect(await refusals('publish_denied')).toBe(before + 1);
    expect(b.logs.find((l) => l.msg === 'refused' && l.reason === 'publish_denied' && l.username === g1.username)).toMatchObject({
      topic: 'lab/v1/home-b/gw-2/up',
    });
    // Barrier: the rightful owner's publish arrives; the forged one never did.
    const owner = track(await connect(b.url, g2.username, g2.password));
    await owner.publishAsync('lab/v1/home-b/gw-2/up', '{"real":true}', { qos: 1 });
    await waitFor("the owner's reading", async () => got.some((m) => m.payload === '{"real":true}'));
    expect(got.filter((m) => m.topic === 'lab/v1/home-b/gw-2/up').map((m) => m.payload)).toEqual(['{"real":true}']);
  });

  it("negates a subscription to another gateway's ack (SUBACK 0x80) and delivers it nothing; its own ack works", async () => {
    const g1 = gateway('home-c', 'gw-1');
    const g2 = gateway('home-c', 'gw-2');
    const snoop = track(await connect(b.url, g1.username, g1.password));
    const snooped = collect(snoop);
    const subacks: number[][] = [];
    snoop.on('packetreceive', (p) => p.cmd === 'suback' && subacks.push(p.granted as number[]));
    await expect(snoop.subscribeAsync('lab/v1/home-c/gw-2/ack', { qos: 1 })).rejects.toMatchObject({
      message: /Subscribe error/,
      packet: { granted: [128] },
    });
    await expect(snoop.subscribeAsync('lab/v1/home-c/+/ack', { qos: 1 })).rejects.toMatchObject({
      message: /Subscribe error/,
      packet: { granted: [128] },
    });
    expect(subacks).toEqual([[128], [128]]);
    // Still connected: a refused filter is not a reason to drop the gateway.
    expect(snoop.connected).toBe(true);
    await snoop.subscribeAsync('lab/v1/home-c/gw-1/ack', { qos: 1 });

    const owner = track(await connect(b.url, g2.username, g2.password));
    const owned = collect(owner);
    await owner.subscribeAsync('lab/v1/home-c/gw-2/ack', { qos: 1 });
    const svc = track(await connect(b.url, b.services.ingest.username, b.services.ingest.password));
    await svc.publishAsync('lab/v1/home-c/gw-2/ack', '{"batch":7}', { qos: 1 });
    await svc.publishAsync('lab/v1/home-c/gw-1/ack', '{"batch":8}', { qos: 1 });
    await waitFor('acks', async () => owned.length === 1 && snooped.length === 1);
    expect(owned).toEqual([{ topic: 'lab/v1/home-c/gw-2/ack', payload: '{"batch":7}' }]);
    expect(snooped).toEqual([{ topic: 'lab/v1/home-c/gw-1/ack', payload: '{"batch":8}' }]);

    // mosquitto_sub reports the denial too (it exits 0 for it; -d shows the granted code).
    const sub = await runCommand('mosquitto_sub', [
      ...mosquittoAuth(b.handle.ports.tcp, g1.username, g1.password),
      '-t',
      'lab/v1/home-c/gw-2/ack',
      '-W',
      '5',
      '-d',
    ]);
    expect(sub.stderr).toMatch(/All subscription requests were denied/);
    expect(sub.stdout).toMatch(/Subscribed \(mid: \d+\): 128/);
  });

  it('disconnects a client whose packet exceeds the maximum size', async () => {
    const cred = gateway('home-d', 'gw-1');
    const { got } = await ingest('lab/v1/home-d/+/up');
    const before = await refusals('packet_too_large');
    const gw = track(await connect(b.url, cred.username, cred.password));
    const gone = closed(gw);
    gw.publish('lab/v1/home-d/gw-1/up', Buffer.alloc(MAX_PACKET + 1, 'x'), { qos: 1 });
    await gone;
    expect(await refusals('packet_too_large')).toBe(before + 1);
    // A packet just under the limit still goes through.
    const ok = track(await connect(b.url, cred.username, cred.password));
    await ok.publishAsync('lab/v1/home-d/gw-1/up', Buffer.alloc(MAX_PACKET - 100, 'y'), { qos: 1 });
    await waitFor('the large-but-allowed packet', async () => got.length === 1);
    expect(got[0]!.payload.length).toBe(MAX_PACKET - 100);
  });

  it('refuses an oversize packet from its header, before buffering it and before CONNECT', async () => {
    const before = await refusals('packet_too_large');
    const sock = createConnection({ host: '127.0.0.1', port: b.handle.ports.tcp });
    await new Promise((r) => sock.once('connect', r));
    const closedAt = withTimeout(
      new Promise<number>((resolve) => sock.once('close', () => resolve(Date.now()))),
      3000,
      'the broker kept the connection open, waiting for the body',
    );
    sock.on('error', () => {});
    // CONNECT announcing 200 MiB of remaining length (varint 0x80 0x80 0x80 0x64), then 10 bytes.
    const sentAt = Date.now();
    sock.write(Buffer.from([0x10, 0x80, 0x80, 0x80, 0x64, ...Buffer.alloc(10)]));
    // Without the parser guard the broker would wait (up to connectTimeout) for 200 MiB.
    expect((await closedAt) - sentAt).toBeLessThan(2000);
    expect(await refusals('packet_too_large')).toBe(before + 1);
  });

  it('accepts a gateway added by another process (second CredentialStore on the same file) without restart', async () => {
    const cli = new CredentialStore(b.dir);
    try {
      const cred = cli.addGateway('home-e', 'late');
      const { got } = await ingest('lab/v1/home-e/+/up');
      const gw = track(await connect(b.url, cred.username, cred.password));
      await gw.publishAsync('lab/v1/home-e/late/up', 'hello', { qos: 1 });
      await waitFor("the late gateway's reading", async () => got.length === 1);
      expect(cli.list().find((g) => g.username === cred.username)?.lastSeenAt).toEqual(expect.any(Number));
    } finally {
      cli.close();
    }
  });

  it('refuses a revoked gateway on its next connect, and disconnect() drops the live connection', async () => {
    const cred = gateway('home-f', 'gw-1');
    const live = track(await connect(b.url, cred.username, cred.password));
    const live2 = track(await connect(b.url, cred.username, cred.password));
    const cli = new CredentialStore(b.dir);
    try {
      expect(cli.revoke('home-f', 'gw-1')).toBe(true);
    } finally {
      cli.close();
    }
    expect(await connectOutcome(b.url, cred.username, cred.password)).toBe(5);
    expect(live.connected).toBe(true);
    const gone = Promise.all([closed(live), closed(live2)]);
    expect(b.handle.disconnect(cred.username)).toBe(2);
    await gone;
    expect(b.handle.disconnect(cred.username)).toBe(0);
    expect(b.handle.disconnect('nobody')).toBe(0);
  });

  it("checks the last will at connect: a gateway's will must be its own state topic, and it is delivered", async () => {
    const cred = gateway('home-g', 'gw-1');
    const bad = await connectOutcome(b.url, cred.username, cred.password, {
      will: { topic: 'lab/v1/home-g/gw-2/state', payload: Buffer.from('x'), qos: 1, retain: false },
    });
    expect(bad).toBe(5);
    expect(b.logs.some((l) => l.reason === 'will_denied' && l.topic === 'lab/v1/home-g/gw-2/state')).toBe(true);

    const monitor = track(await connect(b.url, b.services.monitor.username, b.services.monitor.password));
    const seen = collect(monitor);
    await monitor.subscribeAsync('lab/v1/home-g/+/state', { qos: 1 });
    const gw = track(
      await connect(b.url, cred.username, cred.password, {
        will: { topic: 'lab/v1/home-g/gw-1/state', payload: Buffer.from('{"online":false}'), qos: 1, retain: true },
      }),
    );
    gw.stream.destroy(); // an abrupt loss, not a DISCONNECT: the will fires
    await waitFor('the will', async () => seen.length === 1);
    expect(seen[0]).toEqual({ topic: 'lab/v1/home-g/gw-1/state', payload: '{"online":false}' });
  });

  it("keeps a client id to the user holding it: no takeover of another gateway's connection or session", async () => {
    const g1 = gateway('home-k', 'gw-1');
    const g2 = gateway('home-k', 'gw-2');
    // Ids outside the gateways' reserved gw- prefix (test/security/broker.test.ts covers that one):
    // whoever holds one first keeps it.
    const owner = track(await connect(b.url, g2.username, g2.password, { clientId: 'home-k-tool' }));
    expect(await connectOutcome(b.url, g1.username, g1.password, { clientId: 'home-k-tool' })).toBe(2);
    expect(b.logs.some((l) => l.reason === 'client_id_taken' && l.username === g1.username)).toBe(true);
    expect(owner.connected).toBe(true);
    // A persistent session stays g2's while g2 is offline: its queued acks are not for g1.
    await owner.endAsync();
    const persistent = track(await connect(b.url, g2.username, g2.password, { clientId: 'home-k-tool-p', clean: false }));
    await persistent.subscribeAsync('lab/v1/home-k/gw-2/ack', { qos: 1 });
    await persistent.endAsync();
    expect(await connectOutcome(b.url, g1.username, g1.password, { clientId: 'home-k-tool-p', clean: false })).toBe(2);
    // The owner itself can take its id over again (a reconnect after a half-open link).
    expect(await connectOutcome(b.url, g2.username, g2.password, { clientId: 'home-k-tool' })).toBe('connected');
  });

  it('refuses over-deep topics', async () => {
    const cred = gateway('home-h', 'gw-1');
    const before = await refusals('topic_too_deep');
    const gw = track(await connect(b.url, cred.username, cred.password));
    const gone = closed(gw);
    gw.publish(`lab/v1/home-h/gw-1/up/${'x/'.repeat(30)}y`, 'deep', { qos: 1 });
    await gone;
    expect(await refusals('topic_too_deep')).toBe(before + 1);
  });

  it('serves MQTT over TLS with the configured certificate (mqtt.js and mosquitto_pub)', async () => {
    const cred = gateway('home-i', 'gw-tls');
    const { got } = await ingest('lab/v1/home-i/+/up');
    const url = `mqtts://127.0.0.1:${b.handle.ports.tls}`;
    const ca = readFileSync(certFile);
    const gw = track(await connect(url, cred.username, cred.password, { ca, rejectUnauthorized: true }));
    await gw.publishAsync('lab/v1/home-i/gw-tls/up', 'over-tls', { qos: 1 });
    const pub = await runCommand('mosquitto_pub', [
      ...mosquittoAuth(b.handle.ports.tls!, cred.username, cred.password),
      '--cafile',
      certFile,
      '-q',
      '1',
      '-t',
      'lab/v1/home-i/gw-tls/up',
      '-m',
      'over-tls-cli',
    ]);
    expect(pub.code, pub.stderr).toBe(0);
    await waitFor('both TLS readings', async () => got.length === 2);
    expect(got.map((m) => m.payload).sort()).toEqual(['over-tls', 'over-tls-cli']);
    // It is real TLS: a client that does not trust the certificate fails, plain MQTT on it fails.
    expect(await connectOutcome(url, cred.username, cred.password, { rejectUnauthorized: true })).toMatch(/self[- ]signed|SELF_SIGNED/i);
    const plain = await runCommand('mosquitto_pub', [
      ...mosquittoAuth(b.handle.ports.tls!, cred.username, cred.password),
      '-t',
      'lab/v1/home-i/gw-tls/up',
      '-m',
      'x',
    ]);
    expect(plain.code).not.toBe(0);
    // and the wrong password is still refused over TLS
    expect(await connectOutcome(url, cred.username, 'nope', { ca })).toBe(5);
  });

  it('serves MQTT over WebSocket on /mqtt', async () => {
    const cred = gateway('home-j', 'gw-ws');
    const { got } = await ingest('lab/v1/home-j/+/up');
    const gw = track(await connect(`ws://127.0.0.1:${b.handle.ports.ws}/mqtt`, cred.username, cred.password));
    await gw.publishAsync('lab/v1/home-j/gw-ws/up', 'over-ws', { qos: 1 });
    await waitFor('the WebSocket reading', async () => got.length === 1);
    expect(got[0]).toEqual({ topic: 'lab/v1/home-j/gw-ws/up', payload: 'over-ws' });
    expect(await connectOutcome(`ws://127.0.0.1:${b.handle.ports.ws}/mqtt`, cred.username, 'nope')).toBe(5);
    const wrongPath = await fetch(`http://127.0.0.1:${b.handle.ports.ws}/`);
    expect(wrongPath.status).toBe(426);
  });

  it('exports the client gauge', async () => {
    const value = await localMetricSum('testbed_broker_clients');
    expect(value).toBe(b.handle.clients());
    expect(value).toBeGreaterThan(0);
  });

  it('survived all of the above: a valid client still works', async () => {
    const cred = gateway('home-z', 'gw-last');
    const { got } = await ingest('lab/v1/home-z/+/up');
    const pub = await runCommand('mosquitto_pub', [
      ...mosquittoAuth(b.handle.ports.tcp, cred.username, cred.password),
      '-q',
      '1',
      '-t',
      'lab/v1/home-z/gw-last/up',
      '-m',
      'still here',
    ]);
    expect(pub.code, pub.stderr).toBe(0);
    await waitFor('a reading after all the abuse', async () => got.length === 1);
  });
});

describe('broker limits and lifecycle', () => {
  it('refuses the N+1th connection attempt from one address within a minute (CONNACK 3)', async () => {
    const t = await startTestBroker({ mqttConnectsPerMinute: 4 });
    try {
      const cred = t.store.addGateway('s', 'g');
      const before = await refusals('rate_limited');
      expect(await connectOutcome(t.url, cred.username, cred.password)).toBe('connected');
      expect(await connectOutcome(t.url, cred.username, 'wrong')).toBe(5); // failed attempts count too
      expect(await connectOutcome(t.url, cred.username, cred.password)).toBe('connected');
      const pub = await runCommand('mosquitto_pub', [
        ...mosquittoAuth(t.handle.ports.tcp, cred.username, cred.password),
        '-t',
        'lab/v1/s/g/up',
        '-m',
        'x',
      ]);
      expect(pub.code, pub.stderr).toBe(0);
      expect(await connectOutcome(t.url, cred.username, cred.password)).toBe(3);
      const refused = await runCommand('mosquitto_pub', [
        ...mosquittoAuth(t.handle.ports.tcp, cred.username, cred.password),
        '-t',
        'lab/v1/s/g/up',
        '-m',
        'x',
      ]);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toMatch(/unavailable/i);
      expect(await refusals('rate_limited')).toBe(before + 2);
    } finally {
      await t.stop();
    }
  });

  it('fails to start with a clear message when a port is taken', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as { port: number }).port;
    const dir = tempDir('testbed-broker-bind-');
    const store = new CredentialStore(dir);
    try {
      const { loadConfig } = await import('../../lib/config.ts');
      const config = loadConfig({ env: {}, overrides: { dataDir: dir, mqttPort: port, mqttWsPort: 0 } });
      await expect(startBroker({ config, credentials: store, log: silentLogger })).rejects.toThrow(
        new RegExp(`127\\.0\\.0\\.1:${port}.*in use.*TESTBED_MQTT_PORT`),
      );
      const wsTaken = loadConfig({ env: {}, overrides: { dataDir: dir, mqttPort: 0, mqttWsPort: port } });
      await expect(startBroker({ config: wsTaken, credentials: store, log: silentLogger })).rejects.toThrow(
        /WebSocket.*in use.*TESTBED_MQTT_WS_PORT/,
      );
    } finally {
      store.close();
      await new Promise((r) => blocker.close(r));
    }
  });

  it('close() ends every listener and connection, half-open ones included, and frees the ports', async () => {
    const t = await startTestBroker({ mqttWsPort: await freePort() });
    const cred = t.store.addGateway('s', 'g');
    const c = await connect(t.url, cred.username, cred.password);
    c.on('error', () => {});
    const ws = await connect(`ws://127.0.0.1:${t.handle.ports.ws}/mqtt`, cred.username, cred.password);
    ws.on('error', () => {});
    const raw = createConnection({ host: '127.0.0.1', port: t.handle.ports.tcp }); // never sends CONNECT
    raw.on('error', () => {});
    await new Promise((r) => raw.once('connect', r));
    await sleep(200); // let the broker accept it
    const rawClosed = new Promise((r) => raw.once('close', r));
    const gone = Promise.all([closed(c), closed(ws)]);
    const started = Date.now();
    await t.stop();
    // Not waiting for aedes' 30 s connect timeout on the half-open one.
    expect(Date.now() - started).toBeLessThan(5000);
    await gone;
    await rawClosed;
    for (const port of [t.handle.ports.tcp, t.handle.ports.ws!]) {
      const s = createServer();
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(port, '127.0.0.1', () => resolve());
      });
      await new Promise((r) => s.close(r));
    }
    await c.endAsync(true);
    await ws.endAsync(true);
  });
});
