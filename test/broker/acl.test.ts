import { describe, it, expect } from 'vitest';
import { publishRefusal, subscribeRefusal, willRefusal, filterCovers } from '../../broker/acl.ts';
import type { Principal } from '../../broker/credentials.ts';

const gw: Principal = { type: 'gateway', username: 's1.g1', site: 's1', gateway: 'g1' };
const ingest: Principal = { type: 'service', username: 'svc-ingest', role: 'ingest' };
const monitor: Principal = { type: 'service', username: 'svc-monitor', role: 'monitor' };
const admin: Principal = { type: 'service', username: 'svc-admin', role: 'admin' };

const allowed = (x: string | null) => expect(x).toBeNull();
const refused = (x: string | null) => expect(x).toEqual(expect.any(String));

describe('filterCovers', () => {
  it.each([
    ['a/b/+', 'a/b/c', true],
    ['a/b/+', 'a/b/+', true],
    ['a/b/+', 'a/b/#', false],
    ['a/b/+', 'a/b', false],
    ['a/b/+', 'a/b/c/d', false],
    ['a/#', 'a', true],
    ['a/#', 'a/b/c', true],
    ['a/#', 'a/+/#', true],
    ['a/#', '#', false],
    ['a/#', '+/b', false],
    ['a/+/c', 'a/+/c', true],
    ['a/+/c', 'a/+/+', false],
    ['a/b', 'a/b', true],
    ['a/b', 'a/+', false],
    ['a/b', 'a/b/#', false],
  ])('pattern %s covers filter %s: %s', (pattern, filter, expected) => {
    expect(filterCovers(pattern, filter)).toBe(expected);
  });
});

describe('gateway publish', () => {
  it.each(['up', 'state', 'health', 'events', 'cmd/permit_join/reply', 'cmd/restart/reply'])('own %s allowed', (ch) => {
    allowed(publishRefusal(gw, `lab/v1/s1/g1/${ch}`));
  });
  it.each([
    ['own ack (only ingest acks)', 'lab/v1/s1/g1/ack'],
    ['own cmd (only admin commands)', 'lab/v1/s1/g1/cmd/restart'],
    ['unknown channel', 'lab/v1/s1/g1/other'],
    ['deeper than up', 'lab/v1/s1/g1/up/x'],
    ['reply with extra level', 'lab/v1/s1/g1/cmd/restart/reply/x'],
    ['reply with bad command name', 'lab/v1/s1/g1/cmd/Bad!/reply'],
    ['reply with empty command name', 'lab/v1/s1/g1/cmd//reply'],
    ['another gateway of the same site', 'lab/v1/s1/g2/up'],
    ['same gateway id on another site', 'lab/v1/s2/g1/up'],
    ['gateway id that merely starts with its own', 'lab/v1/s1/g1x/up'],
    ['site alerts', 'lab/v1/s1/alerts'],
    ['its root itself', 'lab/v1/s1/g1'],
    ['outside the tree', 'other/topic'],
    ['$SYS', '$SYS/broker/x'],
    ['a wildcard', 'lab/v1/s1/g1/+'],
    ['empty', ''],
  ])('%s refused', (_what, topic) => {
    refused(publishRefusal(gw, topic));
  });
});

describe('gateway subscribe', () => {
  it.each(['lab/v1/s1/g1/ack', 'lab/v1/s1/g1/cmd/+', 'lab/v1/s1/g1/cmd/restart'])('%s allowed', (f) => allowed(subscribeRefusal(gw, f)));
  it.each([
    'lab/v1/s1/+/ack',
    'lab/v1/+/g1/ack',
    'lab/v1/s1/g2/ack',
    'lab/v1/s1/g1/#',
    'lab/v1/s1/g1/+',
    'lab/v1/s1/g1/cmd/#',
    'lab/v1/s1/g1/cmd/+/reply',
    'lab/v1/s1/g1/up',
    'lab/v1/s1/g1/state',
    '#',
    '+/+/+/+/+',
    '$SYS/#',
    'lab/v1/s1/g1/ack/#',
    'lab/v1/s1/g1/a#',
    'lab/v1/s1/g1/cmd/x+',
    '',
  ])('%s refused', (f) => refused(subscribeRefusal(gw, f)));
});

describe('gateway will', () => {
  it('own state allowed', () => allowed(willRefusal(gw, 'lab/v1/s1/g1/state')));
  it.each(['lab/v1/s1/g1/up', 'lab/v1/s1/g1/health', 'lab/v1/s1/g2/state', 'lab/v1/s1/alerts'])('%s refused', (t) =>
    refused(willRefusal(gw, t)),
  );
});

describe('ingest', () => {
  it.each(['lab/v1/+/+/up', 'lab/v1/s1/g1/up', 'lab/v1/s1/+/up', 'lab/v1/+/+/state', 'lab/v1/+/+/health', 'lab/v1/+/+/cmd/+/reply'])(
    'subscribe %s allowed',
    (f) => allowed(subscribeRefusal(ingest, f)),
  );
  it.each(['lab/v1/#', 'lab/v1/+/+/+', 'lab/v1/+/+/cmd/+', 'lab/v1/+/+/ack', 'lab/v1/+/+/up/#', '#', '$SYS/#'])(
    'subscribe %s refused',
    (f) => refused(subscribeRefusal(ingest, f)),
  );
  it('publishes acks', () => allowed(publishRefusal(ingest, 'lab/v1/s1/g1/ack')));
  it.each(['lab/v1/s1/g1/up', 'lab/v1/s1/g1/ack/x', 'lab/v1/S1/g1/ack', 'lab/v1/s1/g1/cmd/restart', 'lab/v1/s1/alerts', '$SYS/x'])(
    'publish %s refused',
    (t) => refused(publishRefusal(ingest, t)),
  );
});

describe('monitor', () => {
  it.each(['lab/v1/#', 'lab/v1/+/+/health', 'lab/v1/s1/g1/state'])('subscribe %s allowed', (f) => allowed(subscribeRefusal(monitor, f)));
  it.each(['#', 'lab/#', 'lab/v2/#', '$SYS/#', 'other'])('subscribe %s refused', (f) => refused(subscribeRefusal(monitor, f)));
  it('publishes alerts', () => allowed(publishRefusal(monitor, 'lab/v1/s1/alerts')));
  it.each(['lab/v1/s1/g1/ack', 'lab/v1/s1/g1/cmd/restart', 'lab/v1/s1/alerts/x', 'lab/v1/Bad/alerts', 'lab/v1/s1/g1/up'])(
    'publish %s refused',
    (t) => refused(publishRefusal(monitor, t)),
  );
});

describe('admin', () => {
  it.each(['lab/v1/#', 'lab/v1/s1/g1/cmd/+/reply'])('subscribe %s allowed', (f) => allowed(subscribeRefusal(admin, f)));
  it.each(['#', '$SYS/#', 'lab/+/#'])('subscribe %s refused', (f) => refused(subscribeRefusal(admin, f)));
  it.each(['lab/v1/s1/g1/cmd/permit_join', 'lab/v1/s1/alerts'])('publish %s allowed', (t) => allowed(publishRefusal(admin, t)));
  it.each([
    'lab/v1/s1/g1/cmd/permit_join/reply',
    'lab/v1/s1/g1/cmd',
    'lab/v1/s1/g1/ack',
    'lab/v1/s1/g1/up',
    'lab/v1/s1/g1/cmd/Bad',
    '$SYS/x',
  ])('publish %s refused', (t) => refused(publishRefusal(admin, t)));
});
