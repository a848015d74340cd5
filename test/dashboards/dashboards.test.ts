// The dashboards as `testbed dashboards build` writes them, checked without a Grafana server:
// structure (uids, panel ids, the 24-column grid, refIds), references (datasource uids against
// the provisioning files, every $variable declared), the committed dashboards/dist up to date, and
// every InfluxQL query — template variables and panels — run against a real influxd loaded with
// two days of the simulated demo pilot (line protocol from ingest's toLine), each returning rows.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { startInfluxd, tempDir, type ServerHandle } from '../support/servers.ts';
import { testbed } from '../support/centre.ts';
import { loadScenario, simulate } from '../../simulators/index.ts';
import { toLine } from '../../ingest/index.ts';
import { KIND_NAMES, type Reading } from '../../devices/index.ts';
import { InfluxQL, InfluxTarget, fn, showTagValues } from '../../dashboards/influxql.ts';

const root = new URL('../../', import.meta.url).pathname;
const DB = 'testbed';

type Target = {
  refId?: string;
  datasource?: { uid?: string; type?: string };
  query?: unknown;
  rawQuery?: boolean;
  url?: string;
  root_selector?: string;
  url_options?: { params?: { key: string; value: string }[] };
};
type Panel = {
  id?: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { uid?: string };
  targets?: Target[];
};
type Variable = { name: string; type: string; query?: unknown; datasource?: { uid?: string } };
type Dash = { uid: string; title: string; panels: Panel[]; templating?: { list: Variable[] } };

const out = tempDir('testbed-dashboards-');
let dashboards: Dash[] = [];
let datasources: { uid: string; type: string }[] = [];

beforeAll(async () => {
  const printed = await testbed(['dashboards', 'build', '--out', out], {});
  expect(printed).toContain('testbed-fleet.json');
  dashboards = readdirSync(join(out, 'dashboards')).map((f) => JSON.parse(readFileSync(join(out, 'dashboards', f), 'utf8')) as Dash);
  datasources = (
    parse(readFileSync(join(out, 'provisioning', 'datasources', 'testbed.yaml'), 'utf8')) as {
      datasources: { uid: string; type: string }[];
    }
  ).datasources;
});

const BUILTIN = new Set(['timeFilter', '__interval', '__interval_ms', '__from', '__to', '__all', '__timeFilter', 'measurement', 'col']);
/** Every `$name`, `${name}` or `${name:format}` in a string. */
function variablesIn(s: string): string[] {
  return [...s.matchAll(/\$\{(\w+)(?::\w+)?\}|\$(\w+)/g)]
    .map((m) => (m[1] ?? m[2])!)
    .filter((v) => !BUILTIN.has(v) && !v.startsWith('tag_'));
}

describe('the InfluxQL builder', () => {
  it('quotes identifiers and literals, keeps regexes and Grafana macros, nests subqueries', () => {
    const inner = new InfluxQL()
      .select(fn('count', 'seq', 'n'))
      .from('/^$kind$/')
      .tagMatches('site', '$site')
      .where('state', '=', "it's")
      .timeFilter()
      .groupByTime('1h')
      .groupByTags('device');
    expect(
      new InfluxQL()
        .select(fn('count', 'n', 'hours'))
        .from(inner)
        .groupByTags('device')
        .fill(0)
        .build(),
    ).toBe(
      `SELECT count("n") AS "hours" FROM (SELECT count("seq") AS "n" FROM /^$kind$/ WHERE "site" =~ /^$site$/ AND "state" = 'it\\'s' ` +
        `AND $timeFilter GROUP BY time(1h), "device") GROUP BY "device" fill(0)`,
    );
    expect(new InfluxQL().select('"fall"').from('fall').where('fall', '=', true).orderByTimeDesc().limit(5).build()).toBe(
      `SELECT "fall" FROM "fall" WHERE "fall" = true ORDER BY time DESC LIMIT 5`,
    );
    expect(showTagValues('home', { tag: 'site', value: '$site' })).toBe(`SHOW TAG VALUES WITH KEY = "home" WHERE "site" =~ /^$site$/`);
    expect(() => new InfluxQL().from('x').build()).toThrow(/select/);
    const t = new InfluxTarget('SELECT 1', { type: 'influxdb', uid: 'u' }).refId('B').alias('$tag_device').build();
    expect(JSON.parse(JSON.stringify(t))).toEqual({
      refId: 'B',
      query: 'SELECT 1',
      rawQuery: true,
      resultFormat: 'time_series',
      datasource: { type: 'influxdb', uid: 'u' },
      alias: '$tag_device',
    });
  });
});

describe('testbed dashboards build', () => {
  it('writes the dashboards the repository carries in dashboards/dist (rebuild when this fails)', () => {
    for (const sub of ['dashboards', 'provisioning/datasources', 'provisioning/dashboards']) {
      const names = readdirSync(join(out, sub)).sort();
      expect(readdirSync(join(root, 'dashboards/dist', sub)).sort(), sub).toEqual(names);
      for (const n of names)
        expect(readFileSync(join(root, 'dashboards/dist', sub, n), 'utf8'), `${sub}/${n}`).toBe(readFileSync(join(out, sub, n), 'utf8'));
    }
  });

  it('has unique dashboard uids, and in each: unique panel ids inside the 24-column grid, unique refIds per panel', () => {
    expect(dashboards.length).toBeGreaterThanOrEqual(8);
    const uids = dashboards.map((d) => d.uid);
    expect(new Set(uids).size).toBe(uids.length);
    for (const d of dashboards) {
      expect(d.uid.length, d.uid).toBeLessThanOrEqual(40);
      const ids = d.panels.map((p) => p.id);
      expect(
        ids.every((i) => Number.isInteger(i)),
        d.uid,
      ).toBe(true);
      expect(new Set(ids).size, d.uid).toBe(ids.length);
      for (const p of d.panels) {
        const g = p.gridPos;
        expect(g.x >= 0 && g.w > 0 && g.x + g.w <= 24 && g.h > 0 && g.y >= 0, `${d.uid} / ${p.title}: ${JSON.stringify(g)}`).toBe(true);
        const refs = (p.targets ?? []).map((t) => t.refId);
        expect(new Set(refs).size, `${d.uid} / ${p.title}`).toBe(refs.length);
      }
      // No two panels overlap.
      for (const a of d.panels)
        for (const b of d.panels)
          if (a !== b)
            expect(
              a.gridPos.x < b.gridPos.x + b.gridPos.w &&
                b.gridPos.x < a.gridPos.x + a.gridPos.w &&
                a.gridPos.y < b.gridPos.y + b.gridPos.h &&
                b.gridPos.y < a.gridPos.y + a.gridPos.h,
              `${d.uid}: ${a.title} overlaps ${b.title}`,
            ).toBe(false);
    }
  });

  it('refers only to datasources the provisioning provides, and only to declared variables', () => {
    const provided = new Map(datasources.map((d) => [d.uid, d.type]));
    expect([...provided.keys()].sort()).toEqual(['testbed-api', 'testbed-influxdb']);
    const provider = parse(readFileSync(join(out, 'provisioning', 'dashboards', 'testbed.yaml'), 'utf8')) as {
      providers: { type: string; options: { path: string } }[];
    };
    expect(provider.providers[0]).toMatchObject({ type: 'file', options: { path: '/var/lib/grafana/dashboards' } });
    for (const d of dashboards) {
      const declared = new Set((d.templating?.list ?? []).map((v) => v.name));
      const refs: { uid?: string; type?: string }[] = [];
      for (const v of d.templating?.list ?? []) {
        if (v.datasource) refs.push(v.datasource);
        for (const name of variablesIn(JSON.stringify(v.query ?? '')))
          expect(declared.has(name), `${d.uid}: variable ${v.name} uses undeclared $${name}`).toBe(true);
      }
      for (const p of d.panels) {
        if (p.datasource) refs.push(p.datasource);
        for (const t of p.targets ?? []) {
          if (t.datasource) refs.push(t.datasource);
          for (const name of variablesIn(JSON.stringify(t)))
            expect(declared.has(name), `${d.uid} / ${p.title}: undeclared $${name}`).toBe(true);
        }
      }
      for (const r of refs) {
        expect(provided.has(r.uid!), `${d.uid}: datasource ${r.uid}`).toBe(true);
        expect(provided.get(r.uid!), `${d.uid}: datasource ${r.uid} type`).toBe(r.type);
      }
    }
  });
});

describe('every InfluxQL query against a real influxd with the simulated demo pilot', () => {
  let influxd: ServerHandle;
  const q = async (query: string) => {
    const res = await fetch(`${influxd.url}/query?db=${DB}&epoch=ms&q=${encodeURIComponent(query)}`);
    const body = (await res.json()) as {
      results?: { error?: string; series?: { name: string; columns: string[]; values: unknown[][] }[] }[];
      error?: string;
    };
    const r = body.results?.[0];
    if (body.error || r?.error) throw new Error(`${body.error ?? r?.error}\n  in: ${query}`);
    return r?.series ?? [];
  };

  beforeAll(async () => {
    influxd = await startInfluxd();
    await fetch(`${influxd.url}/query?q=${encodeURIComponent(`CREATE DATABASE ${DB}`)}`, { method: 'POST' });
    // Two days of the demo pilot up to now, attributed as ingest's registry hook would (home and
    // a pseudonymous participant per home) …
    const from = Date.now() - 2 * 86_400_000;
    const lines: string[] = [];
    for (const d of simulate({ scenario: loadScenario('demo'), from, days: 2 })) {
      if (d.type !== 'reading') continue;
      const { site, gw, home, ...reading } = d.reading;
      lines.push(toLine(reading as Reading, { site, gateway: gw, extra: { home, participant: `P-${home.toUpperCase()}` } }));
    }
    // … plus one fall (the demo's residents fall about 1.5 times a year: two days rarely have one).
    lines.push(
      toLine(
        {
          dev: 'hal-01-wearable-fall',
          kind: 'fall',
          seq: 999_999,
          ts: Date.now() - 3_600_000,
          v: { fall: true, state: 'fall', confidence_pct: 90 },
          q: { battery: 80 },
        },
        { site: 'halmstad', gateway: 'gw-hal-01', extra: { home: 'hal-01', participant: 'P-HAL-01' } },
      ),
    );
    for (let i = 0; i < lines.length; i += 5000) {
      const res = await fetch(`${influxd.url}/write?db=${DB}&precision=ns`, { method: 'POST', body: lines.slice(i, i + 5000).join('\n') });
      expect(res.status, await res.text()).toBe(204);
    }
  }, 120_000);
  afterAll(async () => influxd?.stop());

  it('variables return the demo’s sites and homes, and every panel query returns rows with them substituted', async () => {
    // One series per measurement: Grafana keeps each value once.
    const values = async (query: string) => [...new Set((await q(query)).flatMap((s) => s.values.map((v) => String(v[1]))))];
    const sub = (s: string, vars: Record<string, string[]>) =>
      s
        .replace(/\$timeFilter/g, 'time > now() - 3d')
        .replace(/\$__interval/g, '1h')
        .replace(/\$(\w+)/g, (m, name: string) => (vars[name] ? `(${vars[name].join('|')})` : m));
    let ran = 0;
    for (const d of dashboards) {
      const vars: Record<string, string[]> = { kind: [...KIND_NAMES] };
      // Variables in order, each query with the earlier ones substituted, as Grafana does.
      for (const v of d.templating?.list ?? []) {
        if (v.datasource?.uid !== 'testbed-influxdb') continue;
        vars[v.name] = await values(sub(String(v.query), vars));
        expect(vars[v.name]!.length, `${d.uid}: $${v.name}`).toBeGreaterThan(0);
      }
      if (vars.site) expect(vars.site.sort(), d.uid).toEqual(['aarhus', 'halmstad', 'hjorring']);
      if (vars.home) expect(vars.home.length, d.uid).toBe(12);
      for (const p of d.panels)
        for (const t of p.targets ?? []) {
          if (t.datasource?.uid !== 'testbed-influxdb') continue;
          expect(t.rawQuery, `${d.uid} / ${p.title}`).toBe(true);
          const series = await q(sub(String(t.query), vars));
          const rows = series.reduce((a, s) => a + s.values.length, 0);
          expect(rows, `${d.uid} / ${p.title}: ${t.query}`).toBeGreaterThan(0);
          ran++;
        }
    }
    expect(ran).toBeGreaterThanOrEqual(15);
  }, 120_000);
});
