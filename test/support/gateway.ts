// Shared bits of the gateway tests: plausible readings, a steady producer, and the count check.

import type { Reading } from '../../devices/contract.ts';
import type { Outbox, Uplink } from '../../gateway/index.ts';
import type { TestAcker } from './acker.ts';

/** A valid reading (it passes checkBatch) of device `dev`; even devices are doors, odd climate. */
export function reading(dev: string, i: number): Omit<Reading, 'seq'> {
  const n = Number(dev.replace(/\D/g, '')) || 0;
  return n % 2 === 0
    ? { dev, kind: 'door', ts: Date.now(), v: { open: i % 2 === 0 }, q: { battery: 80, lqi: 120 } }
    : { dev, kind: 'climate', ts: Date.now(), v: { temperature_c: 20 + (i % 50) / 10, humidity_pct: 45 }, q: { lqi: 100 } };
}

export const deviceIds = (count: number) => Array.from({ length: count }, (_, k) => `dev-${k}`);

export interface Producer {
  accepted: number;
  /** Readings accepted while the uplink was not connected. */
  acceptedOffline: number;
  /** Highest seq accepted per device. */
  lastSeq: Map<string, number>;
  stop(): Promise<void>;
}

/** Every `everyMs`, accepts `perTick` readings round-robin over `devices`, then kicks. */
export function startProducer(outbox: Outbox, uplink: Uplink, devices: string[], perTick: number, everyMs: number): Producer {
  let i = 0;
  const p: Producer = {
    accepted: 0,
    acceptedOffline: 0,
    lastSeq: new Map(),
    stop: async () => {
      clearInterval(timer);
    },
  };
  const timer = setInterval(() => {
    const offline = !uplink.stats().connected;
    for (let k = 0; k < perTick; k++, i++) {
      const r = outbox.accept(reading(devices[i % devices.length]!, i));
      p.lastSeq.set(r.dev, r.seq);
      p.accepted++;
      if (offline) p.acceptedOffline++;
    }
    uplink.kick();
  }, everyMs);
  return p;
}

/** Seqs 1..lastSeq of every device that the acker never saw. */
export function missingSeqs(acker: TestAcker, gw: string, lastSeq: Map<string, number>): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const [dev, last] of lastSeq) {
    const missing = acker.missing(gw, dev, last);
    if (missing.length) out[dev] = missing.slice(0, 20);
  }
  return out;
}
