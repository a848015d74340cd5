// Red team findings 4 and 5 (docs/security.md), against a real `testbed up --no-sim` (child process,
// SQLite registry):
// 4. 300 wrong-token guesses and a company's attempt on participant data left no trace. Every HTTP
//    401 and 403 is now counted (testbed_http_refusals_total{status}) and logged at warn as
//    `refused` with the route, the actor and token id when known — never the secret — at most
//    REFUSAL_LOG_PER_MINUTE lines a minute, so a guessing loop cannot flood the log.
// 5. The public /health showed every role's counters to anyone. It answers status, uptime, version
//    and reasons to anyone, and the roles block only to an admin's or a coordinator's token.

import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REFUSAL_LOG_PER_MINUTE, RefusalLog } from '../../http/errors.ts';
import { type CliProcess, runTestbed, testbed } from '../support/centre.ts';
import { scrapedMetricSum } from '../support/metrics.ts';
import { tempDir, waitFor } from '../support/servers.ts';

interface Made {
  token: string;
  tokenId: string;
  userId: string;
}

let centre: CliProcess;
let env: Record<string, string>;
const made: Record<'admin' | 'coordinator' | 'company', Made> = {} as never;

const create = async (args: string[]) => JSON.parse(await testbed(['token', 'create', ...args], env)) as Made;
const get = (path: string, token?: string) =>
  fetch(`${centre.httpUrl}${path}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
const refusals = (status: '401' | '403') => scrapedMetricSum(centre.httpUrl, 'testbed_http_refusals_total', { status });
/** The centre's JSON log lines with this msg. */
const logLines = (msg: string) =>
  centre
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l.msg === msg);

beforeAll(async () => {
  env = { TESTBED_DATA_DIR: tempDir('testbed-sec-refusals-') };
  made.admin = await create(['--role', 'admin']);
  centre = await runTestbed(['up', '--no-sim'], env);
  for (const [id, type] of [
    ['muni', 'municipality'],
    ['vendor', 'company'],
  ])
    await fetch(`${centre.httpUrl}/api/v1/organisations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${made.admin.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id, name: id, type }),
    });
  made.coordinator = await create(['--role', 'coordinator', '--org', 'muni']);
  made.company = await create(['--role', 'company', '--org', 'vendor']);
});
afterAll(async () => {
  await centre?.kill();
});

describe('/health: public summary, roles for admin and coordinator', () => {
  it('answers status, uptime, version and reasons only, without a token or with a company token', async () => {
    for (const token of [undefined, made.company.token]) {
      const res = await get('/health', token);
      expect(res.status).toBe(200);
      const body = (await res.json()) as Record<string, unknown>;
      expect(Object.keys(body).sort()).toEqual(['reasons', 'status', 'uptimeS', 'version']);
      expect(body.status).toBe('ok');
    }
  });

  it('adds the roles block for an admin and a coordinator', async () => {
    for (const token of [made.admin.token, made.coordinator.token]) {
      const body = (await (await get('/health', token)).json()) as { roles: Record<string, Record<string, unknown>> };
      expect(Object.keys(body.roles)).toEqual(expect.arrayContaining(['broker', 'ingest', 'registry']));
      expect(body.roles.ingest).toHaveProperty('pendingBatches');
    }
  });

  it('gives a token that is not valid the public view, and counts it as a 401 refusal', async () => {
    const before = await refusals('401');
    const res = await get('/health', `tb1.${made.admin.tokenId}.${'x'.repeat(43)}`);
    expect(res.status).toBe(200);
    expect(await res.json()).not.toHaveProperty('roles');
    expect(await refusals('401')).toBe(before + 1);
  });

  it('documents the optional token and the optional roles block', async () => {
    const doc = (await (await get('/openapi.json')).json()) as { paths: Record<string, { get: Record<string, unknown> }> };
    const op = doc.paths['/health']!.get as { security: unknown; description: string; responses: Record<string, { content: unknown }> };
    expect(op.security).toEqual([{}, { bearer: [] }]);
    expect(op.description).toMatch(/admin or a coordinator/);
    expect(JSON.stringify(op.responses['200']!.content)).toContain('"required":["status","uptimeS","version"]');
  });
});

describe('HTTP refusals: counted, logged, bounded', () => {
  it("logs and counts a company's 403 with the actor, role, route and token id", async () => {
    const before = await refusals('403');
    expect((await get('/api/v1/participants', made.company.token)).status).toBe(403);
    expect(await refusals('403')).toBe(before + 1);
    const line = await waitFor('the 403 logged', async () => logLines('refused').find((l) => l.status === 403));
    expect(line).toMatchObject({
      level: 40,
      status: 403,
      code: 'forbidden',
      method: 'GET',
      route: '/api/v1/participants',
      actor: made.company.userId,
      role: 'company',
      tokenId: made.company.tokenId,
    });
  });

  it('counts 300 wrong-token guesses, logs at most the limit a minute, and never a secret', async () => {
    const before = await refusals('401');
    const secrets: string[] = [];
    for (let i = 0; i < 300; i++) {
      const secret = randomBytes(32).toString('base64url');
      secrets.push(secret);
      const res = await get('/api/v1/alerts', `tb1.${made.admin.tokenId}.${secret}`);
      expect(res.status).toBe(401);
    }
    expect(await refusals('401')).toBe(before + 300);
    await waitFor('the suppression logged', async () => logLines('refusals suppressed').length > 0 || undefined);
    // Guesses (a 401 naming a token id) have their own budget a minute.
    const refused = logLines('refused').filter((l) => l.status === 401 && l.tokenId !== undefined);
    expect(refused.length).toBeLessThanOrEqual(REFUSAL_LOG_PER_MINUTE);
    expect(logLines('refusals suppressed')).toHaveLength(1);
    // The guesses that were logged name the token id they aimed at, the route and the status; no secret anywhere.
    expect(
      refused.filter((l) => l.status === 401 && l.route === '/api/v1/alerts' && l.tokenId === made.admin.tokenId).length,
    ).toBeGreaterThan(0);
    const out = centre.output();
    for (const s of [...secrets, made.admin.token.split('.')[2]!]) expect(out).not.toContain(s);
  });

  it('a flood of requests without a token does not hide a token being guessed', () => {
    const lines: [Record<string, unknown>, string][] = [];
    const make = (authorization?: string) =>
      ({
        log: { warn: (o: Record<string, unknown>, msg: string) => lines.push([o, msg]) },
        method: 'GET',
        routeOptions: { url: '/api/v1/alerts' },
        headers: authorization ? { authorization } : {},
        actor: null,
        ip: '127.0.0.1',
      }) as unknown as Parameters<RefusalLog['record']>[0];
    const log = new RefusalLog();
    for (let i = 0; i < REFUSAL_LOG_PER_MINUTE + 5; i++) log.record(make(), 401, 'unauthorized', 'missing bearer token', 1000);
    log.record(make(`Bearer tb1.tok-guess00001.${'x'.repeat(43)}`), 401, 'unauthorized', 'the token is not valid', 1001);
    expect(lines.at(-1)).toEqual([expect.objectContaining({ status: 401, tokenId: 'tok-guess00001' }), 'refused']);
  });

  it('says in the first line of the next minute how many refusals it left unlogged', () => {
    const lines: [Record<string, unknown>, string][] = [];
    const req = {
      log: {
        warn: (o: Record<string, unknown>, msg: string) => lines.push([o, msg]),
        info: (o: Record<string, unknown>, msg: string) => lines.push([o, msg]),
      },
      method: 'GET',
      routeOptions: { url: '/api/v1/alerts' },
      headers: {},
      actor: null,
      ip: '127.0.0.1',
    } as unknown as Parameters<RefusalLog['record']>[0];
    const log = new RefusalLog();
    const t0 = 1_000_000;
    // A flood of bad input first: it has its own budget and leaves the 401s theirs.
    for (let i = 0; i < REFUSAL_LOG_PER_MINUTE + 10; i++) log.record(req, 400, 'invalid_request', 'body/x must be string', t0);
    lines.length = 0;
    for (let i = 0; i < REFUSAL_LOG_PER_MINUTE + 50; i++) log.record(req, 401, 'unauthorized', 'the token is not valid', t0 + i);
    expect(lines.filter(([o, m]) => m === 'refused' && o.status === 401)).toHaveLength(REFUSAL_LOG_PER_MINUTE);
    expect(lines.filter(([, m]) => m === 'refusals suppressed')).toHaveLength(1);
    log.record(req, 401, 'unauthorized', 'the token is not valid', t0 + 60_000);
    expect(lines.at(-1)).toEqual([expect.objectContaining({ status: 401, suppressedBefore: 50 }), 'refused']);
  });
});
