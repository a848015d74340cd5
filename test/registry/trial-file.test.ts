// Trial as code: `testbed trial apply` is idempotent, `export` round-trips, bad files are refused
// with the path of what is wrong — in process and through the CLI, on SQLite and PostgreSQL.

import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { applyTrialFile, exportTrialFile, parseTrialFile, trialFileToYaml } from '../../registry/trial-file.ts';
import { cliActor, type Registry } from '../../registry/index.ts';
import { testbedBin } from '../support/centre.ts';
import { tempDir } from '../support/servers.ts';
import { DATABASES, freshDatabase, freshRegistry, type FreshDb } from '../support/registry.ts';

const EXAMPLE = new URL('../../examples/trial.yaml', import.meta.url).pathname;
const execFileP = promisify(execFile);

async function cli(args: string[], db: FreshDb): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await execFileP(process.execPath, [testbedBin, ...args], {
      env: { ...process.env, TESTBED_LOG_LEVEL: 'warn', TESTBED_DATA_DIR: db.dataDir, TESTBED_DATABASE_URL: db.databaseUrl },
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const writes = async (registry: Registry) =>
  (await registry.db.get<{ n: number }>("SELECT count(*) AS n FROM audit_log WHERE action <> 'read'"))!.n;

describe.each(DATABASES)('trial files on %s', (kind) => {
  let registry: Registry;
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ registry, close } = await freshRegistry(kind));
  });
  afterAll(async () => close?.());

  it('applies the example, and applying it again changes nothing', async () => {
    const file = parseTrialFile(readFileSync(EXAMPLE, 'utf8'));
    const first = await applyTrialFile(registry, cliActor(), file);
    expect(first.created).toEqual(
      expect.arrayContaining([
        'trial hydration-halland',
        'participant P-7K3Q9X',
        'device fall-radar-17',
        'home hc-home-002',
        expect.stringMatching(/^assignment 0x00158d0001a2b3c4 → hc-home-001/),
      ]),
    );
    expect(first.updated).toEqual([]);
    const before = await writes(registry);
    const second = await applyTrialFile(registry, cliActor(), file);
    expect(second).toEqual({ created: [], updated: [], unchanged: first.created.length });
    expect(await writes(registry)).toBe(before);

    const history = await registry.deviceHistory(cliActor(), '0x00158d0001a2b3c4');
    expect(
      history.map((a) => [a.homeId, new Date(a.from).toISOString().slice(0, 10), a.to && new Date(a.to).toISOString().slice(0, 10)]),
    ).toEqual([
      ['lab-apt-1', '2025-03-01', '2025-03-03'],
      ['hc-home-001', '2025-03-03', null],
    ]);
    expect((await registry.getParticipant(cliActor(), 'P-7K3Q9X')).consentScope).toEqual(['hydration', 'fall', 'motion']);
  });

  it('export writes it back; applying the export changes nothing; an edit updates just that', async () => {
    const exported = await exportTrialFile(registry, cliActor(), 'hydration-halland');
    const yaml = trialFileToYaml(exported);
    expect(yaml).toContain('P-7K3Q9X');
    const again = await applyTrialFile(registry, cliActor(), parseTrialFile(yaml));
    expect(again.created).toEqual([]);
    expect(again.updated).toEqual([]);

    const edited = parseTrialFile(yaml);
    edited.devices![0]!.firmware = '2.5.0';
    edited.participants!.find((p) => p.id === 'P-M2T8VD')!.withdrawn = { at: '2025-06-01', pastData: 'exclude' };
    const r = await applyTrialFile(registry, cliActor(), edited);
    expect(r.created).toEqual([]);
    expect(r.updated).toEqual(['participant P-M2T8VD (withdrawn)', 'device 0x00158d0001a2b3c4']);
    const p = await registry.getParticipant(cliActor(), 'P-M2T8VD');
    expect(p).toMatchObject({ consentStatus: 'withdrawn', withdrawnAt: Date.parse('2025-06-01'), pastData: 'exclude' });
    // …and the export of that applies cleanly too.
    expect(
      (await applyTrialFile(registry, cliActor(), parseTrialFile(trialFileToYaml(await exportTrialFile(registry, cliActor()))))).updated,
    ).toEqual([]);
  });

  it('refuses a bad file with where and what, and conflicting history with the reason', async () => {
    expect(() => parseTrialFile('apiVersion: testbed/v1\nkind: Trial\ntrial: {id: x}\n')).toThrow(/\/trial: must have required propert/);
    expect(() => parseTrialFile('{ nope')).toThrow(/not YAML/);
    const file = parseTrialFile(readFileSync(EXAMPLE, 'utf8'));
    (file.participants![0] as Record<string, unknown>).name = 'Anna';
    expect(() => parseTrialFile(JSON.stringify(file))).toThrow(/additional properties.*name/);
    const overlap = parseTrialFile(readFileSync(EXAMPLE, 'utf8'));
    overlap.devices![1]!.assignments!.push({ home: 'hc-home-001', from: '2025-05-01' });
    await expect(applyTrialFile(registry, cliActor(), overlap)).rejects.toThrow(/already assigned to home 'hc-home-002'/);
  });
});

describe.each(DATABASES)('the CLI on %s: token create, trial apply and export', (kind) => {
  let db: FreshDb;
  beforeAll(async () => {
    db = await freshDatabase(kind);
  });
  afterAll(async () => db?.drop());

  it('applies twice (the second changes nothing), exports, and prints tokens once', async () => {
    const first = await cli(['trial', 'apply', EXAMPLE], db);
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout).created.length).toBeGreaterThan(10);
    const second = await cli(['trial', 'apply', EXAMPLE], db);
    expect(JSON.parse(second.stdout)).toMatchObject({ created: [], updated: [] });

    const out = join(tempDir('testbed-export-'), 'trial.yaml');
    expect((await cli(['trial', 'export', '--out', out], db)).code).toBe(0);
    const exported = parseYaml(readFileSync(out, 'utf8'));
    expect(exported.trial.id).toBe('hydration-halland');
    expect(exported.participants.map((p: { id: string }) => p.id).sort()).toEqual(['P-7K3Q9X', 'P-M2T8VD']);
    writeFileSync(out, readFileSync(out, 'utf8'));
    expect(JSON.parse((await cli(['trial', 'apply', out], db)).stdout)).toMatchObject({ created: [], updated: [] });

    const t = await cli(['token', 'create', '--role', 'coordinator', '--org', 'region-halland'], db);
    expect(JSON.parse(t.stdout)).toMatchObject({ token: expect.stringMatching(/^tb1\./), role: 'coordinator', orgId: 'region-halland' });
    const bad = await cli(['token', 'create', '--role', 'coordinator'], db);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/orgId: a coordinator belongs to an organisation/);
    const badRole = await cli(['token', 'create', '--role', 'superuser'], db);
    expect(badRole.stderr).toMatch(/--role: expected one of admin, coordinator, company, researcher/);
    const badFile = await cli(['trial', 'apply', '/dev/null'], db);
    expect(badFile.code).not.toBe(0);
    expect(badFile.stderr).toMatch(/trial file is not valid/);
  });
});
