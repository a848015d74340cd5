import { DatabaseSync } from 'node:sqlite';
import { describe, expect, it } from 'vitest';
import { whereClause } from '../../lib/sql.ts';

describe('whereClause', () => {
  it('keeps the conditions whose value is given, constants always, false never; values stay parameters', () => {
    const w = whereClause([['site = ?', 'a'], ['gateway = ?', undefined], "status <> 'resolved'", false, ['ts >= ?', 0]]);
    expect(w.sql).toBe(" WHERE site = ? AND status <> 'resolved' AND ts >= ?");
    expect(w.params).toEqual(['a', 0]);
    expect(whereClause([['site = ?', undefined], false])).toEqual({ sql: '', params: [] });
  });

  it('selects what a hand count says, and a hostile value is only ever a value', () => {
    const db = new DatabaseSync(':memory:');
    db.exec("CREATE TABLE t (site TEXT, ts INTEGER); INSERT INTO t VALUES ('a', 1), ('a', 5), ('b', 5), ('x'' OR 1=1 --', 9)");
    const count = (conds: Parameters<typeof whereClause>[0]) => {
      const w = whereClause(conds);
      return (db.prepare(`SELECT count(*) AS n FROM t${w.sql}`).get(...w.params) as { n: number }).n;
    };
    expect(count([])).toBe(4);
    expect(count([['site = ?', 'a']])).toBe(2);
    expect(
      count([
        ['site = ?', 'a'],
        ['ts >= ?', 2],
      ]),
    ).toBe(1);
    expect(count([['site = ?', "x' OR 1=1 --"]])).toBe(1);
    expect(count([['site = ?', "' OR 1=1 --"]])).toBe(0);
    db.close();
  });
});
