import { describe, it, expect, afterEach } from 'vitest';
import { rmSync } from 'node:fs';
import { hashPassword, verifyPassword, randomPassword } from '../../broker/password.ts';
import { CredentialStore } from '../../broker/credentials.ts';
import { tempDir } from '../support/servers.ts';

describe('password', () => {
  it('hashes in a self-describing format with a per-record salt, and verifies', async () => {
    const a = await hashPassword('secret');
    const b = await hashPassword('secret');
    expect(a).toMatch(/^scrypt\$16384\$8\$1\$[A-Za-z0-9_-]+\$[A-Za-z0-9_-]+$/);
    expect(a).not.toBe(b);
    expect(await verifyPassword('secret', a)).toBe(true);
    expect(await verifyPassword('secret', b)).toBe(true);
    expect(await verifyPassword('Secret', a)).toBe(false);
    expect(await verifyPassword('', a)).toBe(false);
  });
  it('honours the cost stored in the record and rejects malformed or absurd records', async () => {
    const cheap = await hashPassword('x', { N: 1024, r: 8, p: 1 });
    expect(cheap.startsWith('scrypt$1024$8$1$')).toBe(true);
    expect(await verifyPassword('x', cheap)).toBe(true);
    expect(await verifyPassword('x', 'plain')).toBe(false);
    expect(await verifyPassword('x', cheap.replace('scrypt$1024', 'scrypt$1000'))).toBe(false);
    expect(await verifyPassword('x', cheap.replace('scrypt$1024', `scrypt$${2 ** 30}`))).toBe(false);
  });
  it('random passwords carry 24+ bytes and are base64url', () => {
    const p = randomPassword();
    expect(p).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(Buffer.from(p, 'base64url').length).toBe(24);
    expect(randomPassword()).not.toBe(p);
    expect(() => randomPassword(16)).toThrow(/24 bytes/);
  });
});

describe('CredentialStore', () => {
  const dirs: string[] = [];
  const stores: CredentialStore[] = [];
  const open = (dir: string) => {
    const s = new CredentialStore(dir);
    stores.push(s);
    return s;
  };
  const dir = () => {
    const d = tempDir('testbed-cred-');
    dirs.push(d);
    return d;
  };
  afterEach(() => {
    for (const s of stores.splice(0)) s.close();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('adds a gateway, verifies it, and refuses wrong passwords and unknown users', async () => {
    const store = open(dir());
    const cred = store.addGateway('site-1', 'gw-1');
    expect(cred.username).toBe('site-1.gw-1');
    expect(await store.verify(cred.username, cred.password)).toEqual({
      type: 'gateway',
      username: 'site-1.gw-1',
      site: 'site-1',
      gateway: 'gw-1',
    });
    expect(await store.verify(cred.username, `${cred.password}x`)).toBeNull();
    expect(await store.verify('site-1.gw-2', cred.password)).toBeNull();
    expect(await store.verify(cred.username, '')).toBeNull();
    // The password itself is not stored.
    expect(JSON.stringify(store.list())).not.toContain(cred.password);
  });

  it('refuses invalid ids with a clear error', () => {
    const store = open(dir());
    expect(() => store.addGateway('Site', 'gw')).toThrow(/site id 'Site' is not valid/);
    expect(() => store.addGateway('s', 'g/1')).toThrow(/gateway id 'g\/1' is not valid/);
    expect(() => store.addGateway('s', '+')).toThrow(/gateway id/);
    expect(() => store.addGateway('s.x', 'g')).toThrow(/site id/);
  });

  it('refuses to re-add an active gateway unless rotating; rotation kills the old password', async () => {
    const store = open(dir());
    const first = store.addGateway('s', 'g');
    expect(await store.verify(first.username, first.password)).not.toBeNull(); // now cached
    expect(() => store.addGateway('s', 'g')).toThrow(/already exists/);
    const second = store.addGateway('s', 'g', { rotate: true });
    expect(second.password).not.toBe(first.password);
    expect(await store.verify(first.username, first.password)).toBeNull();
    expect(await store.verify(second.username, second.password)).not.toBeNull();
    expect(store.list()).toHaveLength(1);
  });

  it('revocation takes effect on the next verify, even with a cached result, and a revoked gateway can be re-added', async () => {
    const store = open(dir());
    const cred = store.addGateway('s', 'g');
    expect(await store.verify(cred.username, cred.password)).not.toBeNull();
    expect(store.revoke('s', 'g')).toBe(true);
    expect(store.revoke('s', 'g')).toBe(false);
    expect(() => store.revoke('s', 'nope')).toThrow(/no gateway s.nope/);
    expect(await store.verify(cred.username, cred.password)).toBeNull();
    expect(store.list()[0]!.revokedAt).toEqual(expect.any(Number));
    const again = store.addGateway('s', 'g');
    expect(await store.verify(cred.username, cred.password)).toBeNull();
    expect(await store.verify(again.username, again.password)).not.toBeNull();
    expect(store.list()[0]!.revokedAt).toBeNull();
  });

  it('sees gateways added and revoked by a second store on the same file (another process)', async () => {
    const d = dir();
    const broker = open(d);
    const cli = open(d);
    expect(broker.path).toBe(cli.path);
    const cred = cli.addGateway('s', 'late');
    expect(await broker.verify(cred.username, cred.password)).toMatchObject({ type: 'gateway', gateway: 'late' });
    cli.revoke('s', 'late');
    expect(await broker.verify(cred.username, cred.password)).toBeNull();
  });

  it('keeps service accounts in memory only, by role', async () => {
    const d = dir();
    const store = open(d);
    store.setService('svc-ingest', 'pw-ingest', 'ingest');
    expect(await store.verify('svc-ingest', 'pw-ingest')).toEqual({ type: 'service', username: 'svc-ingest', role: 'ingest' });
    expect(await store.verify('svc-ingest', 'wrong')).toBeNull();
    expect(store.list()).toEqual([]);
    expect(await open(d).verify('svc-ingest', 'pw-ingest')).toBeNull();
    expect(() => store.setService('a.b', 'x', 'admin')).toThrow(/without '\.'/);
    expect(() => store.setService('svc', '', 'admin')).toThrow(/empty password/);
    expect(() => store.setService('svc', 'x', 'root' as never)).toThrow(/role 'root'/);
  });

  it('records last seen, at most every 30 s per gateway', () => {
    const store = open(dir());
    const cred = store.addGateway('s', 'g');
    expect(store.list()[0]!.lastSeenAt).toBeNull();
    store.touch(cred.username, 1_000_000);
    expect(store.list()[0]!.lastSeenAt).toBe(1_000_000);
    store.touch(cred.username, 1_010_000);
    expect(store.list()[0]!.lastSeenAt).toBe(1_000_000);
    store.touch(cred.username, 1_031_000);
    expect(store.list()[0]!.lastSeenAt).toBe(1_031_000);
  });
});
