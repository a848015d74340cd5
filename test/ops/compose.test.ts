// No Docker engine runs here, so the compose file is checked four ways: Compose v1 itself
// (`docker-compose config`, Debian's docker-compose 1.29, which needs no engine for that), dclint
// (the Compose linter, which validates against the Compose Specification schema it ships), the
// same schema through ajv, and our own cross-reference checks that a schema cannot express.
// Compose v2 is not packaged for Debian bookworm nor on npm, so v2 is checked through the
// Compose Specification schema it implements, not run.

import { describe, it, expect } from 'vitest';
import { readFileSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { parse } from 'yaml';
import { Ajv } from 'ajv';
import { SETTINGS } from '../../lib/config.ts';
import { tempDir } from '../support/servers.ts';

const root = new URL('../../', import.meta.url).pathname;
const require = createRequire(import.meta.url);
type Service = {
  build?: string | { context: string };
  image?: string;
  command?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, unknown> | string[];
  volumes?: string[];
  ports?: string[];
};
type Compose = { services: Record<string, Service>; volumes?: Record<string, unknown> };

/** Problems a schema cannot see: dangling references, clashing ports, unknown settings. */
function crossReferenceProblems(compose: Compose): string[] {
  const problems: string[] = [];
  const names = new Set(Object.keys(compose.services));
  const declaredVolumes = new Set(Object.keys(compose.volumes ?? {}));
  const hostPorts = new Map<string, string>();
  const knownEnv = new Set(Object.values(SETTINGS).map((s) => s.env));
  for (const [name, svc] of Object.entries(compose.services)) {
    const deps = Array.isArray(svc.depends_on) ? svc.depends_on : Object.keys(svc.depends_on ?? {});
    for (const d of deps) if (!names.has(d)) problems.push(`${name}: depends_on unknown service '${d}'`);
    for (const v of svc.volumes ?? []) {
      const source = v.split(':')[0]!;
      if (!source.startsWith('.') && !source.startsWith('/') && !declaredVolumes.has(source))
        problems.push(`${name}: volume '${source}' is not declared`);
    }
    for (const p of svc.ports ?? []) {
      const parts = p.split(':');
      const key = parts.length === 3 ? `${parts[0]}:${parts[1]}` : `0.0.0.0:${parts[0]}`;
      if (hostPorts.has(key)) problems.push(`${name}: host port ${key} also published by ${hostPorts.get(key)}`);
      hostPorts.set(key, name);
    }
    if (svc.build) {
      const context = typeof svc.build === 'string' ? svc.build : svc.build.context;
      if (!existsSync(`${root}${context}/Dockerfile`)) problems.push(`${name}: no Dockerfile in build context '${context}'`);
      for (const key of Object.keys(svc.environment ?? {})) {
        if (key.startsWith('TESTBED_') && !knownEnv.has(key)) problems.push(`${name}: unknown setting ${key}`);
      }
    }
  }
  return problems;
}

const DOCKER_COMPOSE_V1 = '/usr/bin/docker-compose';

/** An empty env file: Compose reads `.env` from the project folder otherwise, and a developer's would leak in. */
const noEnvFile = join(tempDir('testbed-compose-'), 'empty.env');
writeFileSync(noEnvFile, '');

/** `docker-compose config -q` (Compose v1) on a file, with only the given environment. */
function composeV1Config(file: string, env: Record<string, string>): { status: number | null; output: string } {
  const args = ['--project-directory', root, '--env-file', noEnvFile, '-f', file, 'config', '-q'];
  const run = spawnSync(DOCKER_COMPOSE_V1, args, { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', ...env } });
  return { status: run.status, output: run.stdout + run.stderr };
}

describe('docker-compose.yml', () => {
  const text = readFileSync(`${root}docker-compose.yml`, 'utf8');
  const compose = parse(text) as Compose;

  it('is accepted by Compose v1 (docker-compose config), which refuses what v2 alone accepts', () => {
    if (!existsSync(DOCKER_COMPOSE_V1))
      throw new Error(`${DOCKER_COMPOSE_V1} not found: install the Debian package 'docker-compose' (.ci/run does this)`);
    expect(composeV1Config(`${root}docker-compose.yml`, { TESTBED_INGEST_PASSWORD: 'x' })).toEqual({ status: 0, output: '' });
    // The required secret is enforced by interpolation…
    const unset = composeV1Config(`${root}docker-compose.yml`, {});
    expect(unset.status).not.toBe(0);
    expect(unset.output).toContain('set TESTBED_INGEST_PASSWORD');
    // …and v1 does refuse a v2-only key, so the pass above means something.
    const v2Only = join(tempDir('testbed-compose-'), 'docker-compose.yml');
    writeFileSync(v2Only, `name: testbed\n${text}`);
    const refused = composeV1Config(v2Only, { TESTBED_INGEST_PASSWORD: 'x' });
    expect(refused.status).not.toBe(0);
    expect(refused.output).toContain("'name' does not match");
  });

  it('passes dclint, the Compose linter', () => {
    const bin = require.resolve('dclint/package.json').replace(/package\.json$/, '');
    const pkg = JSON.parse(readFileSync(`${bin}package.json`, 'utf8')) as { bin: string | Record<string, string> };
    const entry = typeof pkg.bin === 'string' ? pkg.bin : Object.values(pkg.bin)[0]!;
    const run = spawnSync(process.execPath, [`${bin}${entry}`, `${root}docker-compose.yml`, '--color', 'false'], { encoding: 'utf8' });
    expect(run.stdout + run.stderr).not.toMatch(/error/);
    expect(run.status).toBe(0);
  });

  it('validates against the Compose Specification schema', () => {
    // The schema file is not in dclint's "exports", so resolve the package folder and read it from there.
    const schemaPath = require.resolve('dclint/package.json').replace(/package\.json$/, 'schemas/compose.schema.json');
    const schema = JSON.parse(readFileSync(schemaPath, 'utf8')) as Record<string, unknown>;
    delete schema.$schema; // ajv 8 knows draft-07 under another URI
    const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);
    expect(validate(compose), JSON.stringify(validate.errors)).toBe(true);
    const broken = structuredClone(compose) as unknown as { services: { broker: { ports: unknown } } };
    broken.services.broker.ports = 1883;
    expect(validate(broken)).toBe(false);
  });

  it('has no dangling reference, clashing port or unknown setting — and the check catches them', () => {
    expect(crossReferenceProblems(compose)).toEqual([]);
    const broken = structuredClone(compose);
    broken.services.ingest!.depends_on = { nosuch: {} };
    broken.services.ingest!.volumes = ['undeclared:/data'];
    broken.services.ingest!.ports = ['127.0.0.1:8081:8080'];
    broken.services.ingest!.environment = { TESTBED_INFUX_URL: 'typo' };
    expect(crossReferenceProblems(broken)).toEqual([
      "ingest: depends_on unknown service 'nosuch'",
      "ingest: volume 'undeclared' is not declared",
      'ingest: host port 127.0.0.1:8081 also published by broker',
      'ingest: unknown setting TESTBED_INFUX_URL',
    ]);
  });

  it('copies into the image every folder the CLI imports, following its imports from bin/testbed.js', () => {
    const copied = new Set([...readFileSync(`${root}Dockerfile`, 'utf8').matchAll(/^COPY (\S+) \.\/\S+$/gm)].map((m) => m[1]!));
    const seen = new Set<string>();
    const folders = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      folders.add(file.slice(root.length).split('/')[0]!);
      const text = readFileSync(file, 'utf8');
      // Static and dynamic relative imports: `from './x.ts'`, `import('../y.ts')`, `import '../z.ts'`.
      for (const m of text.matchAll(/(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
        const target = new URL(m[1]!, `file://${file}`).pathname;
        if (/\.(ts|js|mjs)$/.test(target) && existsSync(target)) visit(target);
      }
    };
    visit(`${root}bin/testbed.js`);
    expect(folders.size).toBeGreaterThan(5);
    for (const folder of folders) expect(copied, `the image lacks ${folder}/ (imported by the CLI)`).toContain(folder);
  });

  it('runs real testbed subcommands, and the Dockerfile copies folders that exist', () => {
    for (const [name, svc] of Object.entries(compose.services)) {
      if (!svc.build) continue;
      const sub = svc.command?.[0];
      expect(sub, name).toBeTruthy();
      execFileSync(process.execPath, [`${root}bin/testbed.js`, sub!, '--help'], { encoding: 'utf8' });
    }
    const dockerfile = readFileSync(`${root}Dockerfile`, 'utf8');
    for (const m of dockerfile.matchAll(/^COPY (\S+)/gm)) {
      for (const src of m[1] === 'package.json' ? ['package.json', 'package-lock.json'] : [m[1]!])
        expect(existsSync(`${root}${src}`), src).toBe(true);
    }
  });
});
