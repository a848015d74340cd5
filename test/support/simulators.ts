// Shared helpers for the simulator tests.

import { Writable } from 'node:stream';
import { parseScenario, runScenario, type Scenario } from '../../simulators/index.ts';

/** Runs a scenario to NDJSON in memory and returns the text. */
export async function ndjsonOf(
  scenario: Scenario | string,
  opts: { seed?: string | number; days?: number; from?: number } = {},
): Promise<string> {
  const chunks: Buffer[] = [];
  const out = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk);
      cb();
    },
  });
  await runScenario({ scenario, out, speed: 'max', ...opts });
  return Buffer.concat(chunks).toString('utf8');
}

export function lines(text: string): string[] {
  return text.split('\n').filter((l) => l !== '');
}

export interface Line {
  site: string;
  gw: string;
  home: string;
  dev: string;
  kind: string;
  seq: number;
  ts: number;
  v: Record<string, unknown>;
  q?: Record<string, number>;
}

/** The lines that are JSON (injected `not-json` payloads are left out). */
export function parsed(text: string): Line[] {
  const out: Line[] = [];
  for (const l of lines(text)) {
    try {
      out.push(JSON.parse(l) as Line);
    } catch {
      // an injected malformed payload
    }
  }
  return out;
}

/** A one-site scenario from a YAML-like object; homes get the full device kit unless given. */
export function scenario(doc: Record<string, unknown>): Scenario {
  return parseScenario({ start: '2025-03-03T00:00:00Z', days: 1, seed: 1, devices: { full: FULL_KIT }, ...doc }, 'test');
}

export const FULL_KIT = [
  { kind: 'hydration', room: 'kitchen', id: 'kitchen-cup' },
  { kind: 'fall', room: 'wearable', id: 'wearable-fall' },
  { kind: 'fall', room: 'bathroom', id: 'bathroom-radar' },
  { kind: 'incontinence', room: 'bedroom', id: 'bedroom-pad' },
  { kind: 'bed', room: 'bedroom' },
  { kind: 'chair', room: 'living' },
  { kind: 'door', room: 'hall', role: 'entrance' },
  { kind: 'door', room: 'kitchen', role: 'fridge' },
  { kind: 'door', room: 'bathroom', role: 'bathroom' },
  { kind: 'motion', room: 'living' },
  { kind: 'motion', room: 'bathroom' },
  { kind: 'motion', room: 'hall' },
  { kind: 'toilet', room: 'bathroom' },
  { kind: 'appliance', room: 'kitchen', role: 'kettle' },
  { kind: 'appliance', room: 'kitchen', role: 'cooker' },
  { kind: 'button', room: 'wearable', id: 'wearable-sos' },
  { kind: 'climate', room: 'living' },
  { kind: 'climate', room: 'bathroom' },
];
