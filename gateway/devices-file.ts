// The gateway's devices file (TESTBED_GATEWAY_DEVICES_FILE), YAML or JSON:
//
//   allow: ["0x00158d0001a10001", …]      # optional: only these IEEE addresses may join
//   devices:
//     "0x00158d0001a10001": { kind: incontinence }   # a leak sensor under the sheet
//     "0x00124b0002e10005": { kind: chair }          # an occupancy sensor on a chair
//
// Re-read on the reload_config command.

import { readFileSync, existsSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { isKind, KIND_NAMES } from '../devices/catalogue.ts';
import type { DeviceOverride } from './zigbee/mapping.ts';

export interface DevicesFile {
  allow?: Set<string>;
  overrides: Map<string, DeviceOverride>;
}

export function loadDevicesFile(path: string): DevicesFile {
  if (!path) return { overrides: new Map() };
  if (!existsSync(path)) throw new Error(`devices file ${path} does not exist`);
  const body = (parseYaml(readFileSync(path, 'utf8')) ?? {}) as { allow?: unknown; devices?: unknown };
  const out: DevicesFile = { overrides: new Map() };
  if (body.allow !== undefined) {
    if (!Array.isArray(body.allow)) throw new Error(`devices file ${path}: allow must be a list of IEEE addresses`);
    out.allow = new Set(body.allow.map((x) => String(x).toLowerCase()));
  }
  if (body.devices !== undefined) {
    if (typeof body.devices !== 'object' || body.devices === null)
      throw new Error(`devices file ${path}: devices must map device ids to overrides`);
    for (const [dev, o] of Object.entries(body.devices as Record<string, { kind?: unknown }>)) {
      const kind = o?.kind;
      if (kind !== undefined && !isKind(kind))
        throw new Error(`devices file ${path}: ${dev}: unknown kind '${String(kind)}' (known: ${KIND_NAMES.join(', ')})`);
      out.overrides.set(dev.toLowerCase(), kind ? { kind } : {});
    }
  }
  return out;
}
