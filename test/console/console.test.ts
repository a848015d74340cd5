// The web console in a real browser (Debian's chromium through playwright-core) against
// `testbed up` as a user runs it (child process, demo pilot live with the last 24 h sent at once):
// sign in with a token from `testbed token create`, see the pilot's sites and devices, a fall
// published with a gateway's own credential appears live (SSE) and is acknowledged and labelled,
// completeness heatmap, comparison with intervals, a device's history, each view free of axe-core's
// WCAG 2.1 A/AA violations (contrast, labels, names); a researcher is not offered
// fleet or alerts. Screenshots go to test-artifacts/console/. Also: every Infinity query of the
// Grafana dashboards is answered by the running API.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium, type Browser, type Page } from 'playwright-core';
import mqtt from 'mqtt';
import { runTestbed, testbed, type CliProcess } from '../support/centre.ts';
import { tempDir, waitFor } from '../support/servers.ts';

const root = new URL('../../', import.meta.url).pathname;
const shots = `${root}test-artifacts/console`;
const CHROMIUM = '/usr/bin/chromium';
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** axe-core's WCAG 2 A/AA rules (contrast, labels, names, structure) on the page as it is now. */
async function accessibilityViolations(page: Page, view: string): Promise<string[]> {
  // Evaluated over the devtools protocol, so the console's CSP (no inline scripts) stays on.
  await page.evaluate(axeSource);
  const result = await page.evaluate(async () => {
    const g = globalThis as unknown as {
      document: unknown;
      axe: {
        run(
          ctx: unknown,
          o: unknown,
        ): Promise<{ passes: unknown[]; violations: { id: string; help: string; nodes: { target: unknown }[] }[] }>;
      };
    };
    return g.axe.run(g.document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
  });
  expect(result.passes.length, `${view}: axe ran no rule`).toBeGreaterThan(10);
  return result.violations.map((v) => `${view}: ${v.id} (${v.help}) at ${JSON.stringify(v.nodes.slice(0, 3).map((n) => n.target))}`);
}

let up: CliProcess;
let browser: Browser;
let admin = '';
const dataDir = tempDir('testbed-console-');
const env = { TESTBED_DATA_DIR: dataDir };

async function token(role: string): Promise<string> {
  return (JSON.parse(await testbed(['token', 'create', '--role', role], env)) as { token: string }).token;
}

async function get<T>(path: string): Promise<T> {
  const res = await fetch(`${up.httpUrl}${path}`, { headers: { authorization: `Bearer ${admin}` } });
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

async function post(path: string, body: unknown): Promise<void> {
  const res = await fetch(`${up.httpUrl}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
}

async function signIn(page: Page, t: string): Promise<void> {
  await page.goto(`${up.httpUrl}/console/`);
  await page.getByLabel('API token').fill(t);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#nav').waitFor({ state: 'visible' });
}

beforeAll(async () => {
  mkdirSync(shots, { recursive: true });
  if (!readdirSync('/usr/bin').includes('chromium'))
    throw new Error(`${CHROMIUM} not found: install the Debian package 'chromium' (.ci/run does this)`);
  up = await runTestbed(['up'], env);
  expect(up.output()).toContain(`console     http://127.0.0.1:${up.httpPort}/console/`);
  admin = await token('admin');
  // The 24 h backfill of the demo pilot has arrived: devices of all three sites are known.
  await waitFor(
    'demo devices in monitoring',
    async () => {
      const d = await get<{ devices: { site: string }[] }>('/api/v1/monitor/devices');
      return new Set(d.devices.map((x) => x.site)).size === 3 && d.devices.length >= 100;
    },
    60_000,
    500,
  );
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await up?.kill();
});

describe('web console in chromium', () => {
  it('signs in, shows the pilot’s sites and devices, and a live fall alert that is acknowledged and labelled', async () => {
    const page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(String(e)));
    page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));

    const a11y: string[] = [];
    // A wrong token is refused with a message.
    await page.goto(`${up.httpUrl}/console/`);
    a11y.push(...(await accessibilityViolations(page, 'sign-in')));
    await page.getByLabel('API token').fill('tb1.nope.nope');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expectText(page, '#login-error', /not accepted/);
    problems.length = 0; // the 401 of that attempt is logged by the browser

    await signIn(page, admin);
    for (const site of ['halmstad', 'aarhus', 'hjorring']) await page.locator(`#site-${site}`).waitFor();
    await page.locator('table >> text=hal-01-kitchen-cup').first().waitFor();
    await page.screenshot({ path: `${shots}/fleet.png`, fullPage: false });
    a11y.push(...(await accessibilityViolations(page, 'fleet')));

    // Live alerts: the stream is open before the fall is published.
    await page.getByRole('link', { name: /Alerts/ }).click();
    await expectText(page, '#stream-state', /connected/);
    // The list is rendered before the fall exists: it can only arrive through the stream.
    await page.locator('#alert-list').waitFor();
    const gw = JSON.parse(await testbed(['gateway', 'add', '--site', 'halmstad', '--gateway', 'gw-console'], env)) as {
      username: string;
      password: string;
    };
    // The fall detector is registered and installed in a halmstad home: identity binding takes
    // readings only from devices assigned where the gateway serves (an unknown id is quarantined).
    const [home] = await get<{ id: string }[]>('/api/v1/homes?siteId=halmstad');
    await post('/api/v1/devices', { id: 'console-fall-1', kind: 'fall', vendor: 'test', model: 'radar', orgId: 'demo-vendor' });
    await post('/api/v1/assignments', { deviceId: 'console-fall-1', homeId: home!.id, from: Date.now() - 60_000 });
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${up.mqttPort}`, {
      username: gw.username,
      password: gw.password,
      clientId: 'console-test',
      reconnectPeriod: 0,
    });
    const now = Date.now();
    await client.publishAsync(
      'lab/v1/halmstad/gw-console/up',
      JSON.stringify({
        gw: 'gw-console',
        batch: 1,
        sent: now,
        readings: [
          {
            dev: 'console-fall-1',
            kind: 'fall',
            seq: 1,
            ts: now,
            v: { fall: true, state: 'fall', confidence_pct: 92 },
            q: { battery: 88 },
          },
        ],
      }),
      { qos: 1 },
    );
    await client.endAsync();
    const fall = page.locator('li[data-rule="fall"]', { hasText: 'console-fall-1' });
    await fall.waitFor({ timeout: 15_000 });
    expect(await fall.getAttribute('data-status')).toBe('open');
    expect(await page.locator('#alert-count').textContent()).toMatch(/\d+ open/);
    await page.screenshot({ path: `${shots}/alert-live.png` });

    // Keyboard: focus Acknowledge and press Enter.
    await fall.getByRole('button', { name: 'Acknowledge' }).focus();
    await page.keyboard.press('Enter');
    await waitFor('acknowledged in the page', async () => (await fall.getAttribute('data-status')) === 'acknowledged', 10_000);
    await fall.getByRole('button', { name: 'True alarm' }).click();
    await waitFor(
      'labelled in the page',
      async () => (await fall.getByRole('button', { name: 'True alarm' }).getAttribute('aria-pressed')) === 'true',
      10_000,
    );
    const id = await fall.getAttribute('data-alert');
    const stored = await get<{ status: string; acknowledgedBy: string; label: string }>(`/api/v1/alerts/${id}`);
    expect(stored).toMatchObject({ status: 'acknowledged', label: 'true' });
    await fall.scrollIntoViewIfNeeded();
    await page.screenshot({ path: `${shots}/alert-acknowledged.png` });
    a11y.push(...(await accessibilityViolations(page, 'alerts')));

    // Completeness: one row per demo participant.
    await page.getByRole('link', { name: 'Completeness' }).click();
    await page.locator('table.heatmap tbody tr').first().waitFor();
    expect(await page.locator('table.heatmap tbody tr').count()).toBe(12);
    await page.screenshot({ path: `${shots}/completeness.png`, fullPage: true });
    a11y.push(...(await accessibilityViolations(page, 'completeness')));

    // Comparison: the three sites with intervals.
    await page.getByRole('link', { name: 'Site comparison' }).click();
    await page.locator('table >> text=Completeness').first().waitFor();
    for (const site of ['halmstad', 'aarhus', 'hjorring']) await page.locator('thead th', { hasText: site }).first().waitFor();
    expect(await page.locator('.iv').count()).toBeGreaterThan(8);
    await page.screenshot({ path: `${shots}/compare.png`, fullPage: true });
    a11y.push(...(await accessibilityViolations(page, 'compare')));

    // A device's history from the fleet list.
    await page.getByRole('link', { name: 'Fleet' }).click();
    await page.getByRole('link', { name: 'hal-01-kitchen-cup' }).click();
    await page.getByRole('heading', { name: 'Readings per day (last 14 days)' }).waitFor();
    await page.locator('.bars li').first().waitFor();
    await page.screenshot({ path: `${shots}/device.png`, fullPage: true });
    a11y.push(...(await accessibilityViolations(page, 'device')));

    expect(problems, problems.join('\n')).toEqual([]);
    expect(a11y, a11y.join('\n')).toEqual([]);
    await page.close();
  }, 120_000);

  it('offers a researcher completeness and comparison, not fleet or alerts (the API refuses those too)', async () => {
    const researcher = await token('researcher');
    const page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
    await signIn(page, researcher);
    await page.locator('table.heatmap').waitFor();
    expect(await page.getByRole('link', { name: /Alerts/ }).isVisible()).toBe(false);
    expect(await page.getByRole('link', { name: 'Fleet' }).isVisible()).toBe(false);
    expect(await page.locator('#stream-state').textContent()).toBe('');
    const res = await fetch(`${up.httpUrl}/api/v1/alerts`, { headers: { authorization: `Bearer ${researcher}` } });
    expect(res.status).toBe(403);
    await page.screenshot({ path: `${shots}/researcher.png` });
    await page.close();
  }, 60_000);
});

describe('the Grafana dashboards’ Infinity queries', () => {
  it('are each answered by the running API (200, JSON, the selected list present)', async () => {
    const dir = `${root}dashboards/dist/dashboards`;
    type T = {
      datasource?: { uid?: string };
      url?: string;
      root_selector?: string;
      url_options?: { params?: { key: string; value: string }[] };
    };
    const to = Date.now();
    const vars: Record<string, string> = {
      '${__from}': String(to - 7 * 86_400_000),
      '${__to}': String(to),
      $trial: 'demo-pilot',
      '${site:csv}': 'halmstad,aarhus,hjorring',
    };
    const sub = (s: string) => Object.entries(vars).reduce((a, [k, v]) => a.split(k).join(v), s);
    let n = 0;
    for (const f of readdirSync(dir)) {
      const d = JSON.parse(readFileSync(`${dir}/${f}`, 'utf8')) as {
        uid: string;
        panels: { title: string; targets?: T[] }[];
        templating?: { list: { name: string; query?: { infinityQuery?: T } }[] };
      };
      const targets = [
        ...d.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: `${d.uid} / ${p.title}`, t }))),
        ...(d.templating?.list ?? [])
          .filter((v) => v.query?.infinityQuery)
          .map((v) => ({ where: `${d.uid} / $${v.name}`, t: v.query!.infinityQuery! })),
      ];
      for (const { where, t } of targets) {
        if (!t.url) continue;
        const qs = new URLSearchParams((t.url_options?.params ?? []).map((p): [string, string] => [p.key, sub(p.value)]));
        const res = await fetch(`${up.httpUrl}${t.url}${qs.size ? `?${qs}` : ''}`, { headers: { authorization: `Bearer ${admin}` } });
        expect(res.status, `${where}: ${t.url}?${qs} → ${await res.clone().text()}`).toBe(200);
        const body = (await res.json()) as Record<string, unknown>;
        const top = /^(\w+)/.exec(t.root_selector ?? '')?.[1];
        // baselineVsIntervention is present only once a trial's periods are set.
        if (top && top !== 'baselineVsIntervention') expect(body[top], `${where}: ${t.root_selector}`).toBeDefined();
        n++;
      }
    }
    expect(n).toBeGreaterThanOrEqual(15);
  }, 60_000);
});

async function expectText(page: Page, selector: string, re: RegExp): Promise<void> {
  await waitFor(`${selector} ~ ${re}`, async () => re.test((await page.locator(selector).textContent()) ?? ''), 15_000);
}
