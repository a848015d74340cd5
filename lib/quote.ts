// One quoting function per query language, for the values that cannot travel as parameters.
//
// InfluxQL (https://docs.influxdata.com/influxdb/v1/query_language/spec/#identifiers): an
// identifier is double-quoted, a string literal single-quoted; inside either, a backslash escapes
// the next character, so the backslash itself must be escaped first, or a value ending in `\`
// would escape our closing quote. A raw newline ends the token as a bad string (influxql's
// ScanString), so it is written as the escape `\n`; these are the only escapes InfluxQL knows.
//
// SQL (SQLite and PostgreSQL alike): a string literal is single-quoted with `'` doubled; the
// backslash has no special meaning (PostgreSQL's standard_conforming_strings is on by default).
// Values go as parameters (`?`, `$1`); this is for SQL text built from the catalogue.

/** `"name"`, escaped for InfluxQL: measurement, tag, field, database and alias names. */
export function quoteInfluxIdent(name: string): string {
  return `"${escapeInflux(name).replace(/"/g, '\\"')}"`;
}

/** `'value'`, escaped for InfluxQL: a tag value or string field compared in a WHERE clause. */
export function quoteInfluxString(value: string): string {
  return `'${escapeInflux(value).replace(/'/g, "\\'")}'`;
}

/** Backslashes first (so the escapes added next are not doubled), then newlines. */
function escapeInflux(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** `'value'`, escaped for SQL. */
export function quoteSqlString(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}
