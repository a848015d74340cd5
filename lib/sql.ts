// The one way a SQL WHERE clause is built from optional filters, for SQLite and PostgreSQL alike.
// Values are always bound as parameters (`?`), never written into the text; only the condition
// texts, which are constants in our code, become SQL.

export type SqlParam = string | number | null;

/**
 * A condition: `[text with one ?, value]`, left out when the value is undefined; or a constant
 * text (no parameter) that always applies; or `false`, left out.
 */
export type SqlCondition = readonly [text: string, value: SqlParam | undefined] | string | false;

/** ` WHERE a AND b` for the conditions that apply (empty when none does), and their values in order. */
export function whereClause(conditions: readonly SqlCondition[]): { sql: string; params: SqlParam[] } {
  const texts: string[] = [];
  const params: SqlParam[] = [];
  for (const c of conditions) {
    if (c === false) continue;
    if (typeof c === 'string') {
      texts.push(c);
    } else if (c[1] !== undefined) {
      texts.push(c[0]);
      params.push(c[1]);
    }
  }
  return { sql: texts.length ? ` WHERE ${texts.join(' AND ')}` : '', params };
}
