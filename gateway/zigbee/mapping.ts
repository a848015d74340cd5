// From Zigbee devices to our kinds. A device's kind comes from (1) a per-device override in the
// gateway's devices file, else (2) the model's exposes as zigbee-herdsman-converters (or
// Zigbee2MQTT's bridge/devices) describe them. Its readings come from the converted state
// (`{water_leak: true, battery: 87, linkquality: 120}`), mapped to the catalogue's fields.
// Pure functions, shared by the herdsman and Zigbee2MQTT sources; kept in gateway/ because only
// gateways normalise Zigbee state (devices/ stays free of Zigbee vocabulary).

import { isKind, type Kind } from '../../devices/catalogue.ts';
import type { Quality, Value } from '../../devices/contract.ts';

export interface DeviceOverride {
  kind?: Kind;
}

export interface ModelInfo {
  model?: string;
  vendor?: string;
  description?: string;
  /** Property names of the definition's exposes (features flattened). */
  exposes: string[];
}

/** Pressure straps and pads report `occupancy`: they are bed sensors, not motion sensors. */
const BED_MODEL = /bed|strap|sleep|mattress|ZG-210Z|SPM915/i;

/** The kind a model maps to by its exposes, or null when it is none of ours. Order matters. */
export function kindFromModel(m: ModelInfo): Kind | null {
  const has = (p: string) => m.exposes.includes(p);
  const text = `${m.model ?? ''} ${m.description ?? ''}`;
  if (has('water_leak')) return 'incontinence';
  if (has('fall_down_status') || has('fall_status') || has('fall_detection')) return 'fall';
  if ((has('occupancy') || has('presence') || has('pressure_state')) && BED_MODEL.test(text)) return 'bed';
  if (has('contact')) return 'door';
  if (has('occupancy') || has('presence')) return 'motion';
  if (has('sos') || (has('action') && /sos|emergency|panic|button/i.test(text))) return 'button';
  if (has('temperature') && (has('humidity') || !has('action'))) return 'climate';
  return null;
}

export function kindFor(m: ModelInfo, override?: DeviceOverride): Kind | null {
  if (override?.kind && isKind(override.kind)) return override.kind;
  return kindFromModel(m);
}

const FALL_STATES: Record<string, 'none' | 'suspected' | 'fall' | 'cancelled'> = {
  none: 'none',
  normal: 'none',
  unknown: 'none',
  maybe_fall: 'suspected',
  fall_warning: 'suspected',
  fall: 'fall',
  fall_alarm: 'fall',
  falling: 'fall',
  cancel: 'cancelled',
  cancelled: 'cancelled',
};

const BUTTON_ACTIONS: Record<string, 'sos' | 'single' | 'double' | 'hold' | 'cancel'> = {
  emergency: 'sos',
  sos: 'sos',
  panic: 'sos',
  single: 'single',
  double: 'double',
  hold: 'hold',
  long: 'hold',
  disarm: 'cancel',
  cancel: 'cancel',
};

/** Properties whose presence in a message makes a reading of that kind. */
const TRIGGERS: Record<Kind, string[]> = {
  incontinence: ['water_leak'],
  fall: ['fall_down_status', 'fall_status', 'fall_detection', 'status'],
  bed: ['occupancy', 'presence', 'pressure_state'],
  chair: ['occupancy', 'presence', 'pressure_state'],
  door: ['contact'],
  motion: ['occupancy', 'presence'],
  button: ['action', 'sos'],
  climate: ['temperature', 'humidity'],
  hydration: ['intake_ml'],
  toilet: ['flush'],
  appliance: ['state', 'power'],
};

const bool = (x: unknown): boolean | undefined =>
  typeof x === 'boolean' ? x : x === 'ON' || x === 'on' ? true : x === 'OFF' || x === 'off' ? false : undefined;
const num = (x: unknown): number | undefined => (typeof x === 'number' && Number.isFinite(x) ? x : undefined);

/**
 * The values of a reading of `kind` from a device's merged state, when the latest message
 * (`changed`) carries something that kind reports. Null: nothing to report (e.g. a battery-only
 * message, or a required field still unknown).
 */
export function valuesFor(kind: Kind, state: Record<string, unknown>, changed: Record<string, unknown>): Record<string, Value> | null {
  if (!TRIGGERS[kind].some((p) => p in changed)) return null;
  switch (kind) {
    case 'incontinence': {
      const wet = bool(state.water_leak);
      return wet === undefined ? null : { wet };
    }
    case 'fall': {
      const raw =
        state.fall_down_status ??
        state.fall_status ??
        state.status ??
        (state.fall_detection === true ? 'fall' : state.fall_detection === false ? 'none' : undefined);
      const s = typeof raw === 'string' ? FALL_STATES[raw] : undefined;
      if (!s) return null;
      const v: Record<string, Value> = { fall: s === 'fall', state: s };
      const presence = bool(state.presence) ?? bool(state.occupancy);
      if (presence !== undefined) v.presence = presence;
      return v;
    }
    case 'bed':
    case 'chair': {
      const occupied = bool(state.occupancy) ?? bool(state.presence) ?? bool(state.pressure_state);
      return occupied === undefined ? null : { occupied };
    }
    case 'door': {
      const contact = bool(state.contact);
      return contact === undefined ? null : { open: !contact };
    }
    case 'motion': {
      const motion = bool(state.occupancy) ?? bool(state.presence);
      if (motion === undefined) return null;
      const v: Record<string, Value> = { motion };
      const lux = num(state.illuminance_lux) ?? num(state.illuminance);
      if (lux !== undefined && lux >= 0 && lux <= 100000) v.illuminance_lux = lux;
      return v;
    }
    case 'button': {
      const raw = 'action' in changed ? changed.action : changed.sos === true ? 'sos' : undefined;
      const action = typeof raw === 'string' ? BUTTON_ACTIONS[raw] : undefined;
      return action ? { action } : null;
    }
    case 'climate': {
      const t = num(state.temperature);
      if (t === undefined) return null;
      const v: Record<string, Value> = { temperature_c: t };
      const h = num(state.humidity);
      if (h !== undefined) v.humidity_pct = h;
      return v;
    }
    case 'appliance': {
      const on = bool(state.state);
      if (on === undefined) return null;
      const v: Record<string, Value> = { on };
      const p = num(state.power);
      if (p !== undefined) v.power_w = p;
      return v;
    }
    default:
      return null;
  }
}

/** Quality fields from a device's state: battery %, voltage (mV), link quality. */
export function qualityFrom(state: Record<string, unknown>): Quality {
  const q: Quality = {};
  const battery = num(state.battery);
  if (battery !== undefined) q.battery = Math.max(0, Math.min(100, Math.round(battery)));
  const voltage = num(state.voltage);
  if (voltage !== undefined && voltage >= 0 && voltage <= 15000) q.voltage_mv = Math.round(voltage);
  const lqi = num(state.linkquality);
  if (lqi !== undefined && lqi >= 0 && lqi <= 255) q.lqi = Math.round(lqi);
  return q;
}

/** Flattens converter exposes (with nested `features`) into property names. */
export function exposeProperties(exposes: unknown): string[] {
  const out = new Set<string>();
  const walk = (e: unknown) => {
    if (typeof e !== 'object' || e === null) return;
    const o = e as { property?: unknown; name?: unknown; features?: unknown };
    if (typeof o.property === 'string') out.add(o.property);
    else if (typeof o.name === 'string') out.add(o.name);
    if (Array.isArray(o.features)) o.features.forEach(walk);
  };
  if (Array.isArray(exposes)) exposes.forEach(walk);
  return [...out];
}
