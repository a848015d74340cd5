// Scenario files: validation names the path and what was expected.

import { describe, it, expect } from 'vitest';
import { writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { loadScenario, parseScenario, ScenarioError, parseSpeed } from '../../simulators/index.ts';

function problems(doc: unknown): string[] {
  try {
    parseScenario(doc, 'x.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(ScenarioError);
    return (err as ScenarioError).problems;
  }
  return [];
}

const home = { id: 'h1', devices: [{ kind: 'bed' }] };

describe('scenario validation', () => {
  it('names the path and what was expected', () => {
    expect(problems({ sites: [{ id: 'Bad Site', homes: [home] }] })).toEqual([
      `sites[0].id: expected an id matching /^[a-z0-9][a-z0-9-]{0,62}$/, got "Bad Site"`,
    ]);
    expect(problems({ sites: [{ id: 's', homes: [{ id: 'h1', devices: [{ kind: 'bed' }, { kind: 'cup' }] }] }] })[0]).toMatch(
      /^sites\[0\]\.homes\[0\]\.devices\[1\]\.kind: expected one of hydration, fall, .*got "cup"$/,
    );
    expect(problems({ sites: [{ id: 's', homes: [{ id: 'h1', devices: [{ kind: 'door', role: 'window' }] }] }] })[0]).toMatch(
      /devices\[0\]\.role: expected one of entrance, fridge/,
    );
    expect(problems({ sites: [{ id: 's', homes: [{ ...home, resident: 'sprinter' }] }] })[0]).toMatch(
      /homes\[0\]\.resident: expected a profile name \(independent, frail, dependent\), got "sprinter"/,
    );
    expect(problems({ sites: [{ id: 's', homes: [{ ...home, resident: { profile: 'frail', drinkMlPerDay: 'lots' } }] }] })[0]).toMatch(
      /resident\.drinkMlPerDay: expected a number/,
    );
    expect(problems({ speed: 'fast-ish', sites: [{ id: 's', homes: [home] }] })[0]).toMatch(/^speed: expected 'max' or a factor/);
    expect(problems({ start: 'monday', sites: [{ id: 's', homes: [home] }] })[0]).toMatch(/^start: expected an ISO 8601 instant/);
    expect(problems({ sites: [] })).toEqual(['sites: expected a non-empty list of sites, got []']);
    expect(problems({ colour: 'blue', sites: [{ id: 's', homes: [home] }] })[0]).toMatch(/^colour: unknown key/);
  });

  it('checks faults against the scenario', () => {
    const base = { sites: [{ id: 's', homes: [home] }] };
    expect(problems({ ...base, faults: [{ type: 'meteor', site: 's', home: 'h1' }] })[0]).toMatch(
      /^faults\[0\]\.type: expected one of gateway-offline, device-silent/,
    );
    expect(problems({ ...base, faults: [{ type: 'gateway-offline', site: 's', home: 'h2', at: '1h', duration: '1h' }] })[0]).toMatch(
      /^faults\[0\]\.home: expected a home of site 's' \(h1\), got "h2"/,
    );
    expect(problems({ ...base, faults: [{ type: 'device-silent', site: 's', home: 'h1', device: 'cup', at: '1h' }] })[0]).toMatch(
      /^faults\[0\]\.device: expected a device of home 'h1' \(bedroom-bed\)/,
    );
    expect(problems({ ...base, faults: [{ type: 'stuck', site: 's', home: 'h1', device: 'bedroom-bed', at: '1h' }] })[0]).toMatch(
      /^faults\[0\]\.duration: expected a duration/,
    );
    expect(problems({ ...base, faults: [{ type: 'clock-skew', site: 's', home: 'h1', at: 'soon' }] })).toEqual([
      `faults[0].at: expected an offset from the start ('1d6h') or an ISO instant, got "soon"`,
      `faults[0].offset: expected a non-zero clock offset such as '+2h' or '-5m', got nothing`,
    ]);
  });

  it('one gateway per home, unique device ids, ids that fit the contract', () => {
    expect(
      problems({
        sites: [
          {
            id: 's',
            homes: [
              { ...home, gateway: 'g' },
              { ...home, id: 'h2', gateway: 'g' },
            ],
          },
        ],
      })[0],
    ).toMatch(/gateway 'g' is used by two homes/);
    expect(problems({ sites: [{ id: 's', homes: [{ id: 'h1', devices: [{ kind: 'bed' }, { kind: 'bed' }] }] }] })[0]).toMatch(
      /device id 'h1-bedroom-bed' appears twice/,
    );
  });

  it('loads files and names them in errors; built-ins by name', () => {
    const path = join(tmpdir(), `testbed-scenario-${process.pid}.yaml`);
    writeFileSync(path, 'sites:\n  - id: s\n    homes:\n      - id: h1\n        devices: [{ kind: lamp }]\n');
    try {
      expect(() => loadScenario(path)).toThrow(`${path}: sites[0].homes[0].devices[0].kind: expected one of`);
      writeFileSync(path, 'sites: [\n');
      expect(() => loadScenario(path)).toThrow(/not valid YAML/);
    } finally {
      rmSync(path, { force: true });
    }
    expect(() => loadScenario('no-such-scenario')).toThrow(/not a built-in scenario \(built-in: demo/);
    expect(loadScenario('demo').name).toBe('demo');
  });

  it('speed: max, real time, ×N', () => {
    expect(parseSpeed('max')).toBe('max');
    expect(parseSpeed('1')).toBe(1);
    expect(parseSpeed('x60')).toBe(60);
    expect(parseSpeed(0)).toBeNull();
  });
});

describe('pacing', () => {
  it('×N speed maps simulated time onto wall time; max does not wait', async () => {
    const { runScenario } = await import('../../simulators/index.ts');
    const { Writable } = await import('node:stream');
    const sink = () => new Writable({ write: (_c, _e, cb) => cb() });
    // Two simulated hours at ×7200: about one second.
    const paced = await runScenario({ scenario: 'demo', days: 2 / 24, speed: 7200, out: sink() });
    expect(paced.wallMs).toBeGreaterThan(800);
    expect(paced.wallMs).toBeLessThan(2500);
    const fast = await runScenario({ scenario: 'demo', days: 2 / 24, speed: 'max', out: sink() });
    expect(fast.readings).toBe(paced.readings);
    expect(fast.wallMs).toBeLessThan(paced.wallMs);
  });

  it('stops promptly on abort', async () => {
    const { runScenario } = await import('../../simulators/index.ts');
    const { Writable } = await import('node:stream');
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 300);
    const t0 = Date.now();
    const r = await runScenario({
      scenario: 'demo',
      days: null,
      speed: 60,
      out: new Writable({ write: (_c, _e, cb) => cb() }),
      signal: abort.signal,
    });
    expect(r.aborted).toBe(true);
    expect(Date.now() - t0).toBeLessThan(1500);
  });
});
