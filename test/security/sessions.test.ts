// Class 6, sessions (docs/security.md): taking a credential away ends what it holds open, at once.
// Rotating a gateway's password drops its live MQTT session (and the old password no longer
// connects); revoking an API token or disabling its user ends that token's alert stream (SSE).
// Real `testbed up`, real mqtt.js and fetch clients.

import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withTimeout } from '../../lib/timeout.ts';
import { connect, connectOutcome } from '../support/broker.ts';
import { type CliProcess, runTestbed, testbed } from '../support/centre.ts';
import { tempDir } from '../support/servers.ts';

let centre: CliProcess;
let admin: string;
let env: Record<string, string>;
const open: MqttClient[] = [];

beforeAll(async () => {
  env = { TESTBED_DATA_DIR: tempDir('testbed-sec-sessions-') };
  centre = await runTestbed(['up', '--no-sim'], env);
  admin = (JSON.parse(await testbed(['token', 'create', '--role', 'admin'], env)) as { token: string }).token;
});
afterAll(async () => {
  await Promise.all(open.map((c) => c.endAsync(true).catch(() => undefined)));
  await centre?.kill();
});

async function api(method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${centre.httpUrl}/api/v1/${path}`, {
    method,
    headers: { authorization: `Bearer ${admin}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** A second user with a token; its alert stream, open and read until the server ends it. */
async function openStream(): Promise<{ userId: string; tokenId: string; ended: Promise<'ended'> }> {
  const user = await api('POST', 'users', { name: 'stream holder', role: 'admin' });
  expect(user.status).toBe(201);
  const tok = await api('POST', `users/${user.body.id}/tokens`, { label: 'stream' });
  expect(tok.status).toBe(201);
  const res = await fetch(`${centre.httpUrl}/api/v1/alerts/stream`, { headers: { authorization: `Bearer ${tok.body.token}` } });
  expect(res.status).toBe(200);
  const reader = res.body!.getReader();
  const first = await reader.read();
  expect(new TextDecoder().decode(first.value)).toContain('retry:');
  const ended = (async () => {
    for (;;) if ((await reader.read().catch(() => ({ done: true }))).done) return 'ended' as const;
  })();
  return { userId: String(user.body.id), tokenId: String(tok.body.id), ended };
}

describe('sessions: API tokens and users', () => {
  it('revoking a token ends its open alert stream at once', async () => {
    const s = await openStream();
    expect((await api('POST', `tokens/${s.tokenId}/revoke`)).status).toBe(200);
    expect(await withTimeout(s.ended, 3000, 'the stream of a revoked token is still open 3 s after the revoke')).toBe('ended');
  });

  it('disabling a user ends every stream it holds at once', async () => {
    const s = await openStream();
    expect((await api('PATCH', `users/${s.userId}`, { disabled: true })).status).toBe(200);
    expect(await withTimeout(s.ended, 3000, 'the stream of a disabled user is still open 3 s after the change')).toBe('ended');
  });

  it('another user’s stream stays open', async () => {
    const keep = await openStream();
    const other = await openStream();
    expect((await api('POST', `tokens/${other.tokenId}/revoke`)).status).toBe(200);
    await withTimeout(other.ended, 3000, 'revoked stream still open');
    const still = await Promise.race([keep.ended, new Promise((r) => setTimeout(() => r('open'), 500))]);
    expect(still).toBe('open');
  });
});

describe('sessions: gateway credentials', () => {
  it('rotating a gateway’s credentials drops its live session; the old password is refused, the new one works', async () => {
    const added = JSON.parse(await testbed(['gateway', 'add', '--site', 'sec-sess', '--gateway', 'gw-1'], env)) as {
      username: string;
      password: string;
    };
    const mqttUrl = `mqtt://127.0.0.1:${centre.mqttPort}`;
    const client = await connect(mqttUrl, added.username, added.password, { reconnectPeriod: 0 });
    open.push(client);
    // Listening before the rotation: the broker may drop the session before the API answers.
    const dropped = new Promise<void>((resolve) => client.once('close', () => resolve()));
    const rotated = await api('POST', `gateways/${added.username}/credentials`);
    expect(rotated.status).toBe(201);
    await withTimeout(dropped, 5000, 'the session opened with the old password is still up 5 s after the rotation');
    expect(client.connected).toBe(false);
    expect(await connectOutcome(mqttUrl, added.username, added.password)).not.toBe('connected');
    const fresh = (rotated.body.credentials as { password: string }).password;
    expect(await connectOutcome(mqttUrl, added.username, fresh)).toBe('connected');
  });
});
