// Topic permissions, as pure functions of (principal, topic): easy to test exhaustively and
// shared by the broker hooks. Each returns null when allowed, or the reason it is refused.
//
// A gateway is confined to its own `lab/v1/{site}/{gateway}/…` and, inside it, to the channels
// it has a business using: it publishes readings, state, health, events and command replies,
// and it listens for acks and commands. Services get what their role needs and nothing more.
// A subscription filter with wildcards is allowed only if *every* topic it could match is
// allowed — never because some of them are.

import { gatewayClientId, ID_PATTERN, TOPIC_ROOT, parseTopic } from '../devices/contract.ts';
import type { Principal } from './credentials.ts';

/** Command names are a topic level: like ids, plus underscores (`permit_join`). */
export const COMMAND_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;

const GATEWAY_PUBLISH_CHANNELS = ['up', 'state', 'health', 'events'] as const;

/** Why nobody may publish on `topic` (empty, `$`-prefixed, wildcard), or null. */
function topicRefusal(topic: string): string | null {
  if (typeof topic !== 'string' || topic.length === 0) return 'empty topic';
  if (topic.startsWith('$')) return `'${topic}' is a broker topic ($-prefixed); nobody publishes there`;
  if (topic.includes('+') || topic.includes('#')) return `'${topic}' contains a wildcard; PUBLISH needs a concrete topic`;
  return null;
}

/** Topic levels of a gateway's own root, e.g. ['lab','v1','s','g']. */
const ownRoot = (p: { site: string; gateway: string }) => `${TOPIC_ROOT}/${p.site}/${p.gateway}`;

/** Why `principal` may not publish on `topic`, or null when it may. */
export function publishRefusal(principal: Principal, topic: string): string | null {
  const basic = topicRefusal(topic);
  if (basic) return basic;
  if (principal.type === 'gateway') {
    const root = ownRoot(principal);
    if (!topic.startsWith(`${root}/`)) return `gateway ${principal.username} may only publish under ${root}/, not '${topic}'`;
    const rest = topic.slice(root.length + 1).split('/');
    const [channel, name, tail, ...more] = rest;
    if (rest.length === 1 && (GATEWAY_PUBLISH_CHANNELS as readonly string[]).includes(channel!)) return null;
    if (channel === 'cmd' && rest.length === 3 && tail === 'reply' && COMMAND_PATTERN.test(name!) && more.length === 0) return null;
    return (
      `gateway ${principal.username} may publish only ${root}/{${GATEWAY_PUBLISH_CHANNELS.join(',')}} and ${root}/cmd/{name}/reply, ` +
      `not '${topic}'`
    );
  }
  switch (principal.role) {
    case 'ingest': {
      const t = parseTopic(topic);
      if (t && t.channel === 'ack' && t.rest.length === 0) return null;
      return `ingest may publish only ${TOPIC_ROOT}/{site}/{gateway}/ack, not '${topic}'`;
    }
    case 'monitor':
      if (isAlertsTopic(topic)) return null;
      return `monitor may publish only ${TOPIC_ROOT}/{site}/alerts, not '${topic}'`;
    case 'admin': {
      if (isAlertsTopic(topic)) return null;
      const t = parseTopic(topic);
      if (t && t.channel === 'cmd' && t.rest.length === 1 && COMMAND_PATTERN.test(t.rest[0]!)) return null;
      return `admin may publish only ${TOPIC_ROOT}/{site}/{gateway}/cmd/{name} and ${TOPIC_ROOT}/{site}/alerts, not '${topic}'`;
    }
    default:
      return `unknown role`;
  }
}

function isAlertsTopic(topic: string): boolean {
  const levels = topic.split('/');
  return levels.length === 4 && `${levels[0]}/${levels[1]}` === TOPIC_ROOT && ID_PATTERN.test(levels[2]!) && levels[3] === 'alerts';
}

/**
 * Whether every topic matched by `filter` is also matched by `pattern` (both MQTT filters).
 * Level by level: a pattern `#` covers whatever follows; a pattern `+` covers one level of
 * anything (a literal or a `+`, but not a `#`, which spans levels); a literal covers only itself.
 * A filter `a/#` also matches `a` itself, which only a pattern ending in `#` at that level covers.
 */
export function filterCovers(pattern: string, filter: string): boolean {
  const p = pattern.split('/');
  const f = filter.split('/');
  for (let i = 0; i < f.length; i++) {
    if (p[i] === '#') return true;
    if (i >= p.length) return false;
    const fl = f[i]!;
    if (fl === '#') return false;
    if (p[i] === '+') continue;
    if (fl === '+' || fl !== p[i]) return false;
  }
  return p.length === f.length || (p.length === f.length + 1 && p[f.length] === '#');
}

/** Malformed filters are refused here too (aedes also checks), so the ACL never reasons about them. */
function malformedFilterReason(filter: string): string | null {
  if (typeof filter !== 'string' || filter.length === 0) return 'empty filter';
  const levels = filter.split('/');
  for (let i = 0; i < levels.length; i++) {
    const l = levels[i]!;
    if (l.includes('#') && (l !== '#' || i !== levels.length - 1)) return `'${filter}': # must be a whole, last level`;
    if (l.includes('+') && l !== '+') return `'${filter}': + must be a whole level`;
  }
  return null;
}

/** Why `principal` may not subscribe to `filter`, or null when every topic it matches is allowed. */
export function subscribeRefusal(principal: Principal, filter: string): string | null {
  const malformed = malformedFilterReason(filter);
  if (malformed) return malformed;
  // `$SYS/…` and `$share/…` are not ours to hand out; and a leading wildcard never matches `$`
  // topics anyway (MQTT-4.7.2-1).
  if (filter.startsWith('$')) return `'${filter}' is a broker topic ($-prefixed)`;
  const allowed = allowedFilters(principal);
  if (allowed.some((pattern) => filterCovers(pattern, filter))) return null;
  const who = principal.type === 'gateway' ? `gateway ${principal.username}` : principal.role;
  return `${who} may subscribe only within ${allowed.join(', ')}, not '${filter}'`;
}

function allowedFilters(principal: Principal): string[] {
  if (principal.type === 'gateway') {
    const root = ownRoot(principal);
    return [`${root}/ack`, `${root}/cmd/+`];
  }
  switch (principal.role) {
    case 'ingest':
      // `up` to store; state, health, events and command replies to validate (dead letters for what fails).
      return [
        `${TOPIC_ROOT}/+/+/up`,
        `${TOPIC_ROOT}/+/+/state`,
        `${TOPIC_ROOT}/+/+/health`,
        `${TOPIC_ROOT}/+/+/events`,
        `${TOPIC_ROOT}/+/+/cmd/+/reply`,
      ];
    case 'monitor':
    case 'admin':
      return [`${TOPIC_ROOT}/#`];
    default:
      return [];
  }
}

/**
 * Why `principal` may not connect with `clientId`, or null when it may. Client ids starting with
 * `gw-` are the gateways' own: a gateway may use its canonical id (`gw-{site}.{gateway}`) or one
 * that extends it with `.…`; nobody else may use a `gw-` id. Otherwise another credential could
 * take a gateway's id while it is offline — with a persistent session the claim outlives the
 * connection — and lock the real gateway out with "identifier rejected" for good.
 */
export function clientIdRefusal(principal: Principal, clientId: string): string | null {
  if (!clientId.startsWith('gw-')) return null;
  if (principal.type === 'gateway') {
    const own = gatewayClientId(principal);
    if (clientId === own || clientId.startsWith(`${own}.`)) return null;
    return `client id '${clientId}' is reserved for another gateway (ids starting with gw- are the gateways' own; this one's is ${own})`;
  }
  return `client id '${clientId}' is reserved for a gateway (ids starting with gw- are the gateways' own)`;
}

/**
 * Why `principal` may not publish `topic` retained, or null when it may. The contract retains one
 * thing: a gateway's own `state` (birth message and last will), so that a subscriber learns at once
 * whether the gateway is online. Anything else retained would be replayed to every future
 * subscriber — a stale reading fed to ingest again on each restart, a command re-run on each
 * gateway reconnect — so it is refused for everyone.
 */
export function retainRefusal(principal: Principal, topic: string): string | null {
  if (principal.type === 'gateway' && topic === `${ownRoot(principal)}/state`) return null;
  const own = principal.type === 'gateway' ? ` (only ${ownRoot(principal)}/state is retained)` : '';
  return `retained publish on '${topic}' refused${own}`;
}

/**
 * The last will a client may register at connect. A gateway's will must be its own retained
 * `state` topic (the "offline" notice monitoring relies on); a service's will is held to what
 * it may publish.
 */
export function willRefusal(principal: Principal, topic: string): string | null {
  if (principal.type === 'gateway') {
    const own = `${ownRoot(principal)}/state`;
    return topic === own ? null : `gateway ${principal.username}'s will must be ${own}, not '${topic}'`;
  }
  return publishRefusal(principal, topic);
}
