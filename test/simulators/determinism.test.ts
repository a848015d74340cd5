// Same seed → byte-identical NDJSON; another seed → different; every generated reading passes
// the wire contract's checkReading; the demo scenario covers three sites and every kind.

import { describe, it, expect } from 'vitest';
import { checkReading, KIND_NAMES, ID_PATTERN, DEVICE_ID_PATTERN } from '../../devices/index.ts';
import { loadScenario } from '../../simulators/index.ts';
import { ndjsonOf, lines, parsed } from '../support/simulators.ts';

describe('determinism and validity', () => {
  it('the same seed gives byte-identical NDJSON, another seed a different one', async () => {
    const a = await ndjsonOf('demo', { seed: 42, days: 1 });
    const b = await ndjsonOf('demo', { seed: 42, days: 1 });
    const c = await ndjsonOf('demo', { seed: 43, days: 1 });
    expect(a.length).toBeGreaterThan(100_000);
    expect(b).toBe(a);
    expect(c).not.toBe(a);
  });

  it('a given day is the same whatever day the run starts on', async () => {
    const twoDays = parsed(await ndjsonOf('demo', { seed: 5, days: 2 }));
    const secondOnly = parsed(await ndjsonOf('demo', { seed: 5, days: 1, from: Date.parse('2025-01-07T00:00:00Z') }));
    const pick = (ls: typeof twoDays) =>
      ls
        .filter((l) => l.home === 'hal-01' && l.kind === 'hydration' && l.ts >= Date.parse('2025-01-07T02:00:00Z') && l.v.intake_ml !== 0)
        .map((l) => [l.ts, l.v.intake_ml]);
    expect(pick(secondOnly)).toEqual(pick(twoDays));
  });

  it('every reading of a 7-day demo run passes checkReading, except the injected malformed ones', async () => {
    const text = await ndjsonOf('demo', { seed: 1, days: 7 });
    const now = Date.parse('2025-02-01T00:00:00Z');
    let ok = 0;
    const bad: string[] = [];
    const kindsPerSite = new Map<string, Set<string>>();
    for (const line of lines(text)) {
      let r: Record<string, unknown>;
      try {
        r = JSON.parse(line) as Record<string, unknown>;
      } catch {
        bad.push(line);
        continue;
      }
      const reason = checkReading(r, now);
      if (reason) bad.push(line);
      else {
        ok++;
        expect(ID_PATTERN.test(r.site as string) && ID_PATTERN.test(r.gw as string) && DEVICE_ID_PATTERN.test(r.dev as string)).toBe(true);
        const set = kindsPerSite.get(r.site as string) ?? new Set();
        set.add(r.kind as string);
        kindsPerSite.set(r.site as string, set);
      }
    }
    // demo.yaml injects 10 malformed payloads (aarhus / aar-02) and nothing else is refused.
    expect(bad).toHaveLength(10);
    for (const b of bad) expect(b).toContain('aar-02');
    expect(ok).toBeGreaterThan(50_000);
    expect(kindsPerSite.size).toBeGreaterThanOrEqual(3);
    for (const kinds of kindsPerSite.values()) expect([...kinds].sort()).toEqual([...KIND_NAMES].sort());
    console.log(`[sim] demo 7 days: ${ok} valid readings, ${bad.length} malformed`);
  });

  it('the demo scenario: ≥3 sites, several homes each, one gateway per home, every kind in every site', () => {
    const sc = loadScenario('demo');
    expect(sc.sites.length).toBeGreaterThanOrEqual(3);
    for (const site of sc.sites) {
      expect(site.homes.length).toBeGreaterThanOrEqual(3);
      const gws = new Set(site.homes.map((h) => h.gateway));
      expect(gws.size).toBe(site.homes.length);
      const kinds = new Set(site.homes.flatMap((h) => h.devices.map((d) => d.kind)));
      expect([...kinds].sort()).toEqual([...KIND_NAMES].sort());
    }
  });
});
