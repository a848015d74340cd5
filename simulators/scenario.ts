// Scenario files (YAML): sites, homes, residents, devices, timing and faults. Validation names
// the path of every problem and what was expected, e.g.
//   demo.yaml: sites[0].homes[2].devices[1].kind: expected one of hydration, fall, …, got 'cup'

import { readFileSync, existsSync, readdirSync } from 'node:fs';
import { dirname, join, resolve, basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { KIND_NAMES, isKind, ID_PATTERN, DEVICE_ID_PATTERN, type Kind } from '../devices/index.ts';
import { PROFILES, PROFILE_FIELDS, DEFAULT_PROFILE, type ResidentProfile } from './profiles.ts';
import { ROOMS, APPLIANCE_ROLES, type Room } from './routine.ts';
import { DOOR_ROLES, type DeviceSpec } from './devices.ts';
import { parseDuration, parseInstant, parseClock } from './time.ts';

export const SCENARIO_DIR = join(dirname(fileURLToPath(import.meta.url)), 'scenarios');

export class ScenarioError extends Error {
  override name = 'ScenarioError';
  readonly problems: string[];
  constructor(where: string, problems: string[]) {
    super(`${where}: ${problems.length === 1 ? problems[0] : `${problems.length} problems:\n  ${problems.join('\n  ')}`}`);
    this.problems = problems;
  }
}

export type Speed = number | 'max';

/** When a fault starts: an offset from the scenario start, or an absolute instant. */
export type At = { offsetMs: number } | { instant: number };

export const FAULT_TYPES = [
  'gateway-offline',
  'device-silent',
  'battery-death',
  'stuck',
  'duplicates',
  'out-of-order',
  'clock-skew',
  'malformed',
] as const;
export type FaultType = (typeof FAULT_TYPES)[number];

export interface FaultSpec {
  type: FaultType;
  site: string;
  home: string;
  /** Wire id of the device (device faults). */
  device?: string;
  at: At;
  /** Window length; absent: until the end of the run. */
  durationMs?: number;
  /** duplicates: share of readings delivered twice (default 0.3). */
  probability?: number;
  /** clock-skew: how far the gateway clock is off (positive: ahead). */
  offsetMs?: number;
  /** out-of-order: largest extra delivery delay (default 10 min). */
  maxDelayMs?: number;
  /** malformed: payloads injected over the window (default 5). */
  count?: number;
}

export interface HomeSpec {
  site: string;
  id: string;
  gateway: string;
  profileName: string;
  profile: ResidentProfile;
  devices: DeviceSpec[];
}

export interface SiteSpec {
  id: string;
  /** Offset of local time from UTC, minutes (daylight saving is not modelled). */
  utcOffsetMin: number;
  homes: HomeSpec[];
}

export interface Scenario {
  name: string;
  description: string;
  start: number | null;
  days: number | null;
  speed: Speed;
  seed: string;
  sites: SiteSpec[];
  faults: FaultSpec[];
}

/** The names of the built-in scenarios (files in simulators/scenarios/). */
export function builtInScenarios(): string[] {
  return readdirSync(SCENARIO_DIR)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => f.slice(0, -5))
    .sort();
}

/** Loads a built-in scenario by name, or a YAML file by path. */
export function loadScenario(nameOrFile: string): Scenario {
  const builtIn = join(SCENARIO_DIR, `${nameOrFile}.yaml`);
  const path =
    existsSync(nameOrFile) && !/^[a-z0-9-]+$/.test(nameOrFile)
      ? resolve(nameOrFile)
      : existsSync(builtIn)
        ? builtIn
        : existsSync(nameOrFile)
          ? resolve(nameOrFile)
          : null;
  if (!path)
    throw new ScenarioError(nameOrFile, [
      `no such scenario file, and not a built-in scenario (built-in: ${builtInScenarios().join(', ')})`,
    ]);
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ScenarioError(path, [`not valid YAML: ${(err as Error).message}`]);
  }
  return parseScenario(doc, path === builtIn ? `${nameOrFile}.yaml` : path);
}

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const show = (x: unknown) => (x === undefined ? 'nothing' : JSON.stringify(x));

/** Validates a parsed YAML document. `where` names the file in error messages. */
export function parseScenario(doc: unknown, where = 'scenario'): Scenario {
  const problems: string[] = [];
  const bad = (path: string, expected: string, got: unknown) => problems.push(`${path}: expected ${expected}, got ${show(got)}`);
  /** Records the problem and gives `fallback` in the value's place. */
  const invalid = <T>(path: string, expected: string, got: unknown, fallback: T): T => {
    bad(path, expected, got);
    return fallback;
  };
  if (!isObj(doc)) throw new ScenarioError(where, [`(top level): expected a mapping with sites, homes and devices, got ${show(doc)}`]);
  const known = new Set(['name', 'description', 'start', 'days', 'speed', 'seed', 'profiles', 'devices', 'sites', 'faults']);
  for (const k of Object.keys(doc)) if (!known.has(k)) problems.push(`${k}: unknown key (known: ${[...known].join(', ')})`);

  const str = (path: string, x: unknown, fallback?: string): string => {
    if (x === undefined && fallback !== undefined) return fallback;
    if (typeof x !== 'string' || x === '') {
      bad(path, 'a string', x);
      return fallback ?? '';
    }
    return x;
  };
  const num = (path: string, x: unknown, lo: number, hi: number, fallback?: number): number => {
    if (x === undefined && fallback !== undefined) return fallback;
    if (typeof x !== 'number' || !Number.isFinite(x) || x < lo || x > hi) {
      bad(path, `a number from ${lo} to ${hi}`, x);
      return fallback ?? lo;
    }
    return x;
  };
  const id = (path: string, x: unknown, pattern = ID_PATTERN): string => {
    if (typeof x !== 'string' || !pattern.test(x)) {
      bad(path, `an id matching ${pattern}`, x);
      return 'invalid';
    }
    return x;
  };
  const duration = (path: string, x: unknown): number | undefined => {
    const ms = typeof x === 'string' || typeof x === 'number' ? parseDuration(x) : null;
    if (ms === null) {
      bad(path, "a duration such as '90s', '15m', '3h', '1d6h'", x);
      return undefined;
    }
    return ms;
  };

  const name = str('name', doc.name, basename(where).replace(/\.ya?ml$/, ''));
  const description = str('description', doc.description, '');
  let start: number | null = null;
  if (doc.start !== undefined) {
    const raw = doc.start instanceof Date ? doc.start.toISOString() : doc.start;
    start = typeof raw === 'string' ? parseInstant(raw) : null;
    if (start === null) bad('start', "an ISO 8601 instant with a zone, e.g. '2025-01-06T00:00:00Z'", raw);
  }
  const days = doc.days === undefined ? null : num('days', doc.days, 0.001, 3650);
  const speed = parseSpeed(doc.speed ?? 'max');
  if (speed === null) bad('speed', "'max' or a factor > 0 (1 = real time)", doc.speed);
  const seed =
    doc.seed === undefined
      ? '1'
      : typeof doc.seed === 'number' || typeof doc.seed === 'string'
        ? String(doc.seed)
        : invalid('seed', 'a number or string', doc.seed, '1');

  // Profiles: built-ins, plus the file's own (each may name a `base`).
  const profiles: Record<string, ResidentProfile> = { ...PROFILES };
  const profileOf = (path: string, x: unknown): [string, ResidentProfile] => {
    if (typeof x === 'string') {
      const p = profiles[x];
      if (!p) bad(path, `a profile name (${Object.keys(profiles).join(', ')})`, x);
      return [x, p ?? DEFAULT_PROFILE];
    }
    if (!isObj(x)) {
      bad(path, 'a profile name or a mapping of profile fields', x);
      return ['invalid', DEFAULT_PROFILE];
    }
    const baseName = x.profile ?? x.base ?? 'independent';
    const [bn, base] = profileOf(`${path}.${x.profile !== undefined ? 'profile' : 'base'}`, baseName);
    const p: Record<string, unknown> = { ...base };
    for (const [k, v] of Object.entries(x)) {
      if (k === 'profile' || k === 'base') continue;
      const field = k as keyof ResidentProfile;
      if (!PROFILE_FIELDS.includes(field)) {
        problems.push(`${path}.${k}: unknown profile field (known: ${PROFILE_FIELDS.join(', ')})`);
        continue;
      }
      const def = DEFAULT_PROFILE[field];
      if (typeof def === 'number') p[k] = num(`${path}.${k}`, v, 0, 100000);
      else if (typeof def === 'boolean') p[k] = typeof v === 'boolean' ? v : invalid(`${path}.${k}`, 'true or false', v, def);
      else if (typeof def === 'string')
        p[k] = typeof v === 'string' && parseClock(v) !== null ? v : invalid(`${path}.${k}`, "a clock time 'HH:MM'", v, def);
      else if (k === 'outingMin')
        p[k] =
          Array.isArray(v) && v.length === 2 && v.every((n) => typeof n === 'number' && n > 0) && (v[0] as number) <= (v[1] as number)
            ? v
            : invalid(`${path}.${k}`, '[min, max] minutes', v, def);
      else if (k === 'careVisits')
        p[k] =
          Array.isArray(v) && v.every((c) => typeof c === 'string' && parseClock(c) !== null)
            ? v
            : invalid(`${path}.${k}`, "a list of clock times ['08:00', …]", v, def);
    }
    return [bn, p as unknown as ResidentProfile];
  };
  if (doc.profiles !== undefined) {
    if (!isObj(doc.profiles)) bad('profiles', 'a mapping of profile name → fields', doc.profiles);
    else for (const [k, v] of Object.entries(doc.profiles)) profiles[k] = profileOf(`profiles.${k}`, v)[1];
  }

  // Device sets.
  type LocalDevice = Omit<DeviceSpec, 'id'> & { local: string };
  const deviceList = (path: string, x: unknown): LocalDevice[] => {
    if (typeof x === 'string') {
      const set = sets[x];
      if (!set) bad(path, `a device set name (${Object.keys(sets).join(', ') || 'none defined under devices:'}) or a list`, x);
      return set ?? [];
    }
    if (!Array.isArray(x)) {
      bad(path, 'a list of devices or a device set name', x);
      return [];
    }
    const out: LocalDevice[] = [];
    x.forEach((d: unknown, i) => {
      const p = `${path}[${i}]`;
      if (!isObj(d)) {
        bad(p, 'a mapping {kind, room, role?, id?}', d);
        return;
      }
      for (const k of Object.keys(d))
        if (!['kind', 'room', 'role', 'id', 'battery'].includes(k))
          problems.push(`${p}.${k}: unknown key (known: kind, room, role, id, battery)`);
      if (!isKind(d.kind)) {
        bad(`${p}.kind`, `one of ${KIND_NAMES.join(', ')}`, d.kind);
        return;
      }
      const kind: Kind = d.kind;
      const rooms = [...ROOMS, 'wearable'];
      const defaultRoom: Record<Kind, string> = {
        hydration: 'kitchen',
        fall: 'wearable',
        incontinence: 'bedroom',
        bed: 'bedroom',
        chair: 'living',
        door: 'hall',
        motion: 'living',
        toilet: 'bathroom',
        appliance: 'kitchen',
        button: 'wearable',
        climate: 'living',
      };
      const room = d.room ?? defaultRoom[kind];
      if (typeof room !== 'string' || !rooms.includes(room)) {
        bad(`${p}.room`, `one of ${rooms.join(', ')}`, d.room);
        return;
      }
      if ((room === 'wearable') !== (kind === 'fall' || kind === 'button') && room === 'wearable') {
        bad(`${p}.room`, `a room (only fall detectors and buttons are worn)`, room);
        return;
      }
      let role: string | undefined;
      if (kind === 'door' || kind === 'appliance') {
        const roles: readonly string[] = kind === 'door' ? DOOR_ROLES : APPLIANCE_ROLES;
        role = (d.role ?? roles[0]) as string;
        if (!roles.includes(role)) {
          bad(`${p}.role`, `one of ${roles.join(', ')}`, d.role);
          return;
        }
      } else if (d.role !== undefined) problems.push(`${p}.role: only door and appliance devices have a role`);
      const local = d.id === undefined ? `${room}-${role ?? kind}` : id(`${p}.id`, d.id, DEVICE_ID_PATTERN);
      const battery = d.battery === undefined ? undefined : num(`${p}.battery`, d.battery, 0, 100);
      out.push({ local, kind, room: room as Room | 'wearable', ...(role ? { role } : {}), ...(battery !== undefined ? { battery } : {}) });
    });
    return out;
  };
  const sets: Record<string, LocalDevice[]> = {};
  if (doc.devices !== undefined) {
    if (!isObj(doc.devices)) bad('devices', 'a mapping of device-set name → list of devices', doc.devices);
    else for (const [k, v] of Object.entries(doc.devices)) sets[k] = deviceList(`devices.${k}`, v);
  }

  const sites: SiteSpec[] = [];
  if (!Array.isArray(doc.sites) || doc.sites.length === 0) bad('sites', 'a non-empty list of sites', doc.sites);
  else {
    const siteIds = new Set<string>();
    doc.sites.forEach((s: unknown, i) => {
      const p = `sites[${i}]`;
      if (!isObj(s)) {
        bad(p, 'a mapping {id, utcOffsetMin?, homes}', s);
        return;
      }
      for (const k of Object.keys(s))
        if (!['id', 'utcOffsetMin', 'homes', 'name'].includes(k))
          problems.push(`${p}.${k}: unknown key (known: id, name, utcOffsetMin, homes)`);
      const siteId = id(`${p}.id`, s.id);
      if (siteIds.has(siteId)) problems.push(`${p}.id: site '${siteId}' appears twice`);
      siteIds.add(siteId);
      const site: SiteSpec = { id: siteId, utcOffsetMin: num(`${p}.utcOffsetMin`, s.utcOffsetMin, -720, 840, 60), homes: [] };
      if (!Array.isArray(s.homes) || s.homes.length === 0) bad(`${p}.homes`, 'a non-empty list of homes', s.homes);
      else {
        const gws = new Set<string>();
        s.homes.forEach((h: unknown, j) => {
          const hp = `${p}.homes[${j}]`;
          if (!isObj(h)) {
            bad(hp, 'a mapping {id, gateway?, resident, devices}', h);
            return;
          }
          for (const k of Object.keys(h))
            if (!['id', 'gateway', 'resident', 'devices'].includes(k))
              problems.push(`${hp}.${k}: unknown key (known: id, gateway, resident, devices)`);
          const homeId = id(`${hp}.id`, h.id);
          const gateway = h.gateway === undefined ? `gw-${homeId}` : id(`${hp}.gateway`, h.gateway);
          if (!ID_PATTERN.test(gateway)) bad(`${hp}.gateway`, `an id matching ${ID_PATTERN} (the default gw-<home> is too long)`, gateway);
          if (gws.has(gateway))
            problems.push(`${hp}: gateway '${gateway}' is used by two homes of site '${siteId}' (one gateway per home)`);
          gws.add(gateway);
          const [profileName, profile] = profileOf(`${hp}.resident`, h.resident ?? 'independent');
          const devices = deviceList(`${hp}.devices`, h.devices).map((d, k) => {
            const { local, ...rest } = d;
            const wire = `${homeId}-${local}`;
            if (!DEVICE_ID_PATTERN.test(wire)) bad(`${hp}.devices[${k}]`, `a device id matching ${DEVICE_ID_PATTERN}`, wire);
            return { id: wire, ...rest };
          });
          const seen = new Set<string>();
          for (const d of devices) {
            if (seen.has(d.id)) problems.push(`${hp}.devices: device id '${d.id}' appears twice (give one an explicit id)`);
            seen.add(d.id);
          }
          if (Array.isArray(h.devices) && h.devices.length === 0) bad(`${hp}.devices`, 'at least one device', h.devices);
          site.homes.push({ site: siteId, id: homeId, gateway, profileName, profile, devices });
        });
      }
      sites.push(site);
    });
  }

  const faults: FaultSpec[] = [];
  if (doc.faults !== undefined && doc.faults !== null) {
    if (!Array.isArray(doc.faults)) bad('faults', 'a list of faults', doc.faults);
    else
      doc.faults.forEach((f: unknown, i) => {
        const p = `faults[${i}]`;
        if (!isObj(f)) {
          bad(p, 'a mapping {type, site, home, device?, at, duration?}', f);
          return;
        }
        const type = f.type as FaultType;
        if (!FAULT_TYPES.includes(type)) {
          bad(`${p}.type`, `one of ${FAULT_TYPES.join(', ')}`, f.type);
          return;
        }
        const allowed = new Set(['type', 'site', 'home', 'device', 'at', 'duration', 'probability', 'offset', 'maxDelay', 'count']);
        for (const k of Object.keys(f)) if (!allowed.has(k)) problems.push(`${p}.${k}: unknown key (known: ${[...allowed].join(', ')})`);
        const site = sites.find((s) => s.id === f.site);
        if (!site) {
          bad(`${p}.site`, `a site of this scenario (${sites.map((s) => s.id).join(', ')})`, f.site);
          return;
        }
        const home = site.homes.find((h) => h.id === f.home);
        if (!home) {
          bad(`${p}.home`, `a home of site '${site.id}' (${site.homes.map((h) => h.id).join(', ')})`, f.home);
          return;
        }
        const fault: FaultSpec = { type, site: site.id, home: home.id, at: { offsetMs: 0 } };
        const deviceFault = type === 'device-silent' || type === 'battery-death' || type === 'stuck';
        if (deviceFault) {
          const dev = home.devices.find((d) => d.id === f.device || d.id === `${home.id}-${String(f.device)}`);
          if (!dev) {
            bad(
              `${p}.device`,
              `a device of home '${home.id}' (${home.devices.map((d) => d.id.slice(home.id.length + 1)).join(', ')})`,
              f.device,
            );
            return;
          }
          fault.device = dev.id;
        } else if (f.device !== undefined) problems.push(`${p}.device: only device-silent, battery-death and stuck faults name a device`);
        if (f.at === undefined) fault.at = { offsetMs: 0 };
        else {
          const raw = f.at instanceof Date ? f.at.toISOString() : f.at;
          const instant = typeof raw === 'string' ? parseInstant(raw) : null;
          const offset = instant === null && (typeof raw === 'string' || typeof raw === 'number') ? parseDuration(raw) : null;
          if (instant !== null) fault.at = { instant };
          else if (offset !== null && offset >= 0) fault.at = { offsetMs: offset };
          else bad(`${p}.at`, "an offset from the start ('1d6h') or an ISO instant", f.at);
        }
        if (f.duration !== undefined) {
          const d = duration(`${p}.duration`, f.duration);
          if (d !== undefined && d <= 0) bad(`${p}.duration`, 'a positive duration', f.duration);
          else if (d !== undefined) fault.durationMs = d;
        } else if (
          type === 'gateway-offline' ||
          type === 'stuck' ||
          type === 'out-of-order' ||
          type === 'duplicates' ||
          type === 'malformed'
        ) {
          bad(`${p}.duration`, `a duration (a ${type} fault needs a window)`, undefined);
        }
        if (type === 'clock-skew') {
          const o = f.offset === undefined ? undefined : duration(`${p}.offset`, f.offset);
          if (o === undefined || o === 0) bad(`${p}.offset`, "a non-zero clock offset such as '+2h' or '-5m'", f.offset);
          else fault.offsetMs = o;
        } else if (f.offset !== undefined) problems.push(`${p}.offset: only clock-skew faults have an offset`);
        if (type === 'duplicates') fault.probability = num(`${p}.probability`, f.probability, 0, 1, 0.3);
        if (type === 'out-of-order') {
          const d = f.maxDelay === undefined ? 10 * 60_000 : duration(`${p}.maxDelay`, f.maxDelay);
          if (d !== undefined) fault.maxDelayMs = d;
        }
        if (type === 'malformed') fault.count = num(`${p}.count`, f.count, 1, 1_000_000, 5);
        faults.push(fault);
      });
  }

  if (problems.length) throw new ScenarioError(where, problems);
  return { name, description, start, days, speed: speed ?? 'max', seed, sites, faults };
}

/** `max`, `1` (real time), `60`, `x60`, `60x`. Null if malformed. */
export function parseSpeed(x: unknown): Speed | null {
  if (x === 'max' || x === 'fast') return 'max';
  const n = typeof x === 'number' ? x : typeof x === 'string' ? Number(x.replace(/^[x×]|[x×]$/g, '')) : NaN;
  return Number.isFinite(n) && n > 0 ? n : null;
}

export function resolveAt(at: At, start: number): number {
  return 'instant' in at ? at.instant : start + at.offsetMs;
}
