// The API document as a client generator or a reviewer meets it: `testbed up --no-sim` (child
// process, embedded SQLite store, every role's routes: registry, dead letters, monitoring,
// console) serves /openapi.json; it must be valid OpenAPI under swagger-parser, pass Redocly's
// recommended rules as configured in redocly.yaml with no error and no warning, name every
// operation (unique operationId, a declared tag) and document its error responses. Also the one
// error handler: an unknown route, a body that fails its schema, and a route that throws
// something that is not an ApiError each answer with the shared error body.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import SwaggerParser from '@apidevtools/swagger-parser';
import { buildHttpApp, type HttpApp } from '../../http/index.ts';
import { runTestbed, testbed, type CliProcess } from '../support/centre.ts';
import { tempDir } from '../support/servers.ts';

const execFileP = promisify(execFile);
const root = new URL('../../', import.meta.url).pathname;
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'options', 'head', 'trace'];
/** Public and input-free: they answer 200 (or 500), never a 4xx (redocly.yaml says why the rule is off). */
const NO_CLIENT_ERRORS = ['getHealth', 'getMetrics'];

interface Operation {
  operationId?: string;
  tags?: string[];
  responses: Record<string, unknown>;
}
interface Document {
  openapi: string;
  tags?: { name: string; description?: string }[];
  paths: Record<string, Record<string, Operation>>;
}
interface LintProblem {
  ruleId: string;
  severity: 'error' | 'warn';
  message: string;
  location: { pointer: string }[];
}

const dataDir = tempDir('testbed-openapi-');
const env = { TESTBED_DATA_DIR: dataDir };
let up: CliProcess;
let doc: Document;
let docPath: string;

function operations(d: Document): { key: string; op: Operation }[] {
  return Object.entries(d.paths).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([method]) => METHODS.includes(method))
      .map(([method, op]) => ({ key: `${method.toUpperCase()} ${path}`, op })),
  );
}

beforeAll(async () => {
  up = await runTestbed(['up', '--no-sim'], env);
  const res = await fetch(`${up.httpUrl}/openapi.json`);
  expect(res.status).toBe(200);
  doc = (await res.json()) as Document;
  docPath = join(dataDir, 'openapi.json');
  writeFileSync(docPath, JSON.stringify(doc, null, 2));
}, 60_000);

afterAll(async () => {
  await up?.kill();
});

describe('the OpenAPI document of `testbed up`', () => {
  it('is valid OpenAPI 3.1 (swagger-parser)', async () => {
    expect(doc.openapi).toMatch(/^3\.1\./);
    // validate() dereferences in place: give it a copy.
    await expect(SwaggerParser.validate(structuredClone(doc) as never)).resolves.toBeDefined();
  });

  it('passes `redocly lint` with the recommended rules (redocly.yaml): no error, no warning', async () => {
    const cli = join(root, 'node_modules/@redocly/cli/bin/cli.js');
    const run = execFileP(process.execPath, [cli, 'lint', docPath, '--config', join(root, 'redocly.yaml'), '--format', 'json'], {
      cwd: root,
      env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
      maxBuffer: 64 * 1024 * 1024,
    });
    // It exits 1 when it finds an error; the report on stdout is what counts.
    const { stdout } = await run.catch((err: { stdout?: string; stderr?: string }) => {
      if (!err.stdout) throw new Error(`redocly did not run: ${err.stderr}`);
      return { stdout: err.stdout };
    });
    const report = JSON.parse(stdout) as { totals: { errors: number; warnings: number }; problems: LintProblem[] };
    const problems = report.problems.map((p) => `${p.severity} ${p.ruleId} at ${p.location[0]?.pointer}: ${p.message}`);
    expect(problems).toEqual([]);
    expect(report.totals).toMatchObject({ errors: 0, warnings: 0 });
  });

  it('names every operation: a unique operationId and a tag declared at the top level with a description', () => {
    const ops = operations(doc);
    expect(ops.length).toBeGreaterThan(50);
    expect(
      ops.filter((o) => !o.op.operationId).map((o) => o.key),
      'operations without an operationId',
    ).toEqual([]);
    const ids = ops.map((o) => o.op.operationId).filter(Boolean);
    expect(
      ids.filter((id, i) => ids.indexOf(id) !== i),
      'operationIds used twice',
    ).toEqual([]);
    const declared = new Map((doc.tags ?? []).map((t) => [t.name, t.description]));
    const undeclared = ops.filter((o) => !o.op.tags?.length || o.op.tags.some((t) => !declared.get(t))).map((o) => o.key);
    expect(undeclared, 'operations without a tag declared and described at the top level').toEqual([]);
  });

  it('documents error responses: every operation but the public, input-free ones has a 4xx', () => {
    const ops = operations(doc);
    const without = ops.filter((o) => !Object.keys(o.op.responses).some((s) => /^4\d\d$/.test(s)));
    expect(without.map((o) => o.op.operationId ?? o.key).sort()).toEqual([...NO_CLIENT_ERRORS].sort());
    // A route that names roles documents the shell's 401 and 403 (http/auth.ts).
    const alerts = doc.paths['/api/v1/alerts']?.get;
    expect(Object.keys(alerts?.responses ?? {})).toEqual(expect.arrayContaining(['200', '400', '401', '403']));
  });
});

describe('every API operation needs a token', () => {
  it('documents bearer security on every /api/v1 operation, and each one answers 401 without a token', async () => {
    const api = operations(doc).filter((o) => o.key.split(' ')[1]!.startsWith('/api/v1/'));
    expect(api.length).toBeGreaterThan(60);
    const unsecured = api.filter((o) => JSON.stringify((o.op as { security?: unknown }).security) !== '[{"bearer":[]}]');
    expect(unsecured.map((o) => o.key)).toEqual([]);
    const open: string[] = [];
    for (const { key } of api) {
      const [method, path] = key.split(' ') as [string, string];
      const url = `${up.httpUrl}${path.replace(/\{[^}]+\}/g, 'x')}`;
      const hasBody = ['POST', 'PUT', 'PATCH'].includes(method);
      const res = await fetch(url, {
        method,
        ...(hasBody ? { headers: { 'content-type': 'application/json' }, body: '{}' } : {}),
      });
      if (res.status !== 401) open.push(`${key} → ${res.status}`);
      await res.body?.cancel();
    }
    expect(open).toEqual([]);
  });
});

describe('one error handler, one error body', () => {
  let admin = '';
  let app: HttpApp | undefined;

  beforeAll(async () => {
    admin = (JSON.parse(await testbed(['token', 'create', '--role', 'admin'], env)) as { token: string }).token;
  });
  afterAll(async () => {
    await app?.close();
  });

  it('answers an unknown route with a JSON 404', async () => {
    const res = await fetch(`${up.httpUrl}/api/v1/no-such-thing?x=1`);
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await res.json()).toEqual({
      statusCode: 404,
      code: 'not_found',
      error: 'Not Found',
      message: 'no route GET /api/v1/no-such-thing',
    });
  });

  it('answers a body that fails its schema with 400 invalid_request naming the field', async () => {
    const post = (body: unknown) =>
      fetch(`${up.httpUrl}/api/v1/monitor/maintenance`, {
        method: 'POST',
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const wrongType = await post({ site: 'halmstad', from: 'yesterday', to: 1 });
    expect(wrongType.status).toBe(400);
    expect(await wrongType.json()).toMatchObject({ statusCode: 400, code: 'invalid_request', error: 'Bad Request', message: /from/ });
    const typo = await post({ site: 'halmstad', from: 0, to: 1, reasn: 'typo' });
    expect(typo.status).toBe(400);
    expect(await typo.json()).toMatchObject({ code: 'invalid_request', message: /additional properties|reasn/i });
    // Without a token the body is not looked at: 401 first.
    const anonymous = await fetch(`${up.httpUrl}/api/v1/monitor/maintenance`, { method: 'POST', body: '{' });
    expect(anonymous.status).toBe(401);
    expect(await anonymous.json()).toMatchObject({ statusCode: 401, code: 'unauthorized' });
  });

  it('answers a route that throws something other than an ApiError with 500 internal_error and no internal text', async () => {
    const secret = 'SQLITE_CORRUPT: database disk image is malformed (/var/lib/testbed/registry.sqlite)';
    app = await buildHttpApp({
      health: () => ({ status: 'ok', uptimeS: 0, version: 'test', roles: {} }),
      plugins: [
        async (a) => {
          a.get('/fails', async () => {
            throw new Error(secret);
          });
        },
      ],
    });
    const res = await app.inject({ method: 'GET', url: '/fails' });
    expect(res.statusCode).toBe(500);
    const body = res.json() as Record<string, unknown>;
    expect(body).toMatchObject({ statusCode: 500, code: 'internal_error', error: 'Internal Server Error' });
    expect(body.message).toMatch(/^internal error \(request \S+\); the server log has the details$/);
    expect(res.body).not.toMatch(/SQLITE|malformed|registry\.sqlite/);
  });
});
