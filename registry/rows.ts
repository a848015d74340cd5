// Rows ↔ entities. Each table's columns are derived from its entity schema: the column is the
// field's name in snake_case (with the exceptions in RENAMED), and the codec follows the field's
// type — integers are BIGINT (PostgreSQL returns them as strings, hence Number()), arrays and
// objects are JSON text, the rest is text. A field the table does not store (a trial's sites live
// in trial_sites) is named in `notStored`.

import type { TObject, TSchema, Static } from 'typebox';
import { ApiError } from '../lib/errors.ts';
import { whereClause } from '../lib/sql.ts';
import type { Param, Queryable, Row } from './db.ts';

type Codec = 'text' | 'int' | 'json';

/** `from` and `to` are SQL keywords: their columns are from_ts and to_ts. */
const RENAMED: Record<string, string> = { from: 'from_ts', to: 'to_ts' };

const snakeCase = (key: string) => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

function codecOf(schema: TSchema): Codec {
  const type = (schema as { type?: unknown }).type;
  if (type === 'integer') return 'int';
  if (type === 'array' || type === 'object') return 'json';
  return 'text';
}

/** The columns of `schema` as [field, column, codec]. */
export function columnsOf(schema: TObject, notStored: readonly string[] = []): [field: string, column: string, codec: Codec][] {
  return Object.entries(schema.properties)
    .filter(([key]) => !notStored.includes(key))
    .map(([key, field]) => [key, RENAMED[key] ?? snakeCase(key), codecOf(field as TSchema)]);
}

/** Equal as stored: null and undefined alike, arrays and objects by value. */
export const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

export class Table<S extends TObject> {
  readonly name: string;
  readonly #columns: Map<string, [column: string, codec: Codec]>;

  constructor(name: string, schema: S, opts: { notStored?: readonly string[] } = {}) {
    this.name = name;
    this.#columns = new Map(columnsOf(schema, opts.notStored).map(([key, col, codec]) => [key, [col, codec]]));
  }

  /** The columns the entity is stored in, in the schema's order. */
  get columns(): string[] {
    return [...this.#columns.values()].map(([col]) => col);
  }

  decode(row: Row): Static<S> {
    const out: Record<string, unknown> = {};
    for (const [key, [col, codec]] of this.#columns) {
      const v = row[col];
      if (v === null || v === undefined) out[key] = null;
      else if (codec === 'int') out[key] = Number(v);
      else if (codec === 'json') out[key] = JSON.parse(String(v));
      else out[key] = String(v);
    }
    return out as Static<S>;
  }

  #encode(key: string, value: unknown): Param {
    if (value === null || value === undefined) return null;
    if (this.#columns.get(key)![1] === 'json') return JSON.stringify(value);
    return value as Param;
  }

  /** Inserts the fields of `obj` the table stores (others, like a trial's siteIds, are left out). */
  async insert(q: Queryable, obj: Record<string, unknown>): Promise<void> {
    const keys = Object.keys(obj).filter((k) => this.#columns.has(k));
    const cols = keys.map((k) => this.#columns.get(k)![0]);
    await q.run(
      `INSERT INTO ${this.name} (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`,
      keys.map((k) => this.#encode(k, obj[k])),
    );
  }

  /** Applies the fields of `patch` that differ from `current`; returns what changed, as [old, new]. */
  async update(
    q: Queryable,
    current: Record<string, unknown>,
    patch: Record<string, unknown>,
    now: number,
  ): Promise<Record<string, [unknown, unknown]>> {
    const changed: Record<string, [unknown, unknown]> = {};
    for (const [k, v] of Object.entries(patch)) {
      if (v === undefined || !this.#columns.has(k) || k === 'id') continue;
      if (!same(current[k], v)) changed[k] = [current[k] ?? null, v];
    }
    const keys = Object.keys(changed);
    if (keys.length === 0) return changed;
    const sets = keys.map((k) => `${this.#columns.get(k)![0]} = ?`);
    const stamped = this.#columns.has('updatedAt');
    await q.run(`UPDATE ${this.name} SET ${sets.join(', ')}${stamped ? ', updated_at = ?' : ''} WHERE id = ?`, [
      ...keys.map((k) => this.#encode(k, changed[k]![1])),
      ...(stamped ? [now] : []),
      String(current.id),
    ]);
    return changed;
  }

  /** The row with this id, or undefined. */
  async find(q: Queryable, id: string): Promise<Static<S> | undefined> {
    const row = await q.get(`SELECT * FROM ${this.name} WHERE id = ?`, [id]);
    return row ? this.decode(row) : undefined;
  }

  /** The row with this id; ApiError `status` ("… does not exist") when there is none. */
  async get(q: Queryable, id: string, what: string, status = 404): Promise<Static<S>> {
    const found = await this.find(q, id);
    if (!found) throw new ApiError(status, `${what} '${id}' does not exist`);
    return found;
  }

  /** All rows matching the filters (undefined: no filter), in `order`. */
  async list(q: Queryable, filters: [string, Param | undefined][], order = 'id'): Promise<Static<S>[]> {
    const w = where(filters);
    return (await q.all(`SELECT * FROM ${this.name}${w.sql} ORDER BY ${order}`, w.params)).map((r) => this.decode(r));
  }
}

/** `WHERE c1 = ? AND …` for the column filters that are set (lib/sql.ts builds it). */
export function where(filters: [string, Param | undefined][]): { sql: string; params: Param[] } {
  return whereClause(filters.map(([column, value]) => [`${column} = ?`, value] as const));
}

export interface ListOptions {
  limit?: number | undefined;
  offset?: number | undefined;
}

/** One page of `items`: 1000 from the start unless said otherwise. */
export function page<T>(items: T[], o: ListOptions): T[] {
  const offset = o.offset ?? 0;
  return items.slice(offset, offset + (o.limit ?? 1000));
}
