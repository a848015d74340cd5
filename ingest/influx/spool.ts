// The durable buffer in front of InfluxDB: a SQLite file (node:sqlite, WAL, synchronous=FULL),
// one row per write() call, committed before anything is sent, deleted once InfluxDB confirmed it.
// While InfluxDB is down it grows on disk, not in memory; after a restart it is drained again.

import { join } from 'node:path';
import { openSqlite, type DatabaseSync } from '../../lib/sqlite.ts';
import { ingestMetrics } from '../metrics.ts';

/** Where a spooled line came from, for its dead letter if InfluxDB refuses it. */
export type LineMeta = [site: string | null, gateway: string | null, batch: number | null, idx: number | null];

/**
 * One spool row: the lines of one write() call, committed together. Per-call rows rather than
 * per-point rows keep the spool off the hot path (one insert, one delete per few thousand
 * points instead of three SQLite operations per point).
 */
export interface Chunk {
  id: number;
  lines: string[];
  meta: LineMeta[];
}

/** Spooled lines kept in memory for the writer; beyond this they are read back from disk. */
const MEMORY_LINES = 200_000;

export class Spool {
  readonly path: string;
  #db: DatabaseSync;
  /** Chunks kept in memory so the writer need not read them back; bounded by MEMORY_LINES. */
  #cache = new Map<number, Chunk>();
  #cachedLines = 0;
  #depth = 0;
  #insert: ReturnType<DatabaseSync['prepare']>;
  #after: ReturnType<DatabaseSync['prepare']>;

  /** `dirOrFile`: a folder (the spool is `influx-spool.sqlite` in it) or a `.sqlite` path. */
  constructor(dirOrFile: string) {
    this.path = dirOrFile.endsWith('.sqlite') ? dirOrFile : join(dirOrFile, 'influx-spool.sqlite');
    this.#db = openSqlite(this.path);
    this.#db.exec(`CREATE TABLE IF NOT EXISTS spool (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      n INTEGER NOT NULL,
      lines TEXT NOT NULL,
      meta TEXT NOT NULL
    )`);
    this.#insert = this.#db.prepare('INSERT INTO spool (n, lines, meta) VALUES (?, ?, ?)');
    this.#after = this.#db.prepare('SELECT id, n FROM spool WHERE id > ? ORDER BY id LIMIT 256');
    this.#setDepth(Number((this.#db.prepare('SELECT coalesce(sum(n), 0) AS n FROM spool').get() as { n: number }).n));
  }

  /** Lines spooled and not yet removed. */
  get depth(): number {
    return this.#depth;
  }

  /** One durable commit for the lines of one call: after it, they survive a crash of ingest. */
  append(lines: string[], meta: LineMeta[]): Chunk {
    const chunk: Chunk = { id: 0, lines, meta };
    chunk.id = Number(this.#insert.run(lines.length, lines.join('\n'), JSON.stringify(meta)).lastInsertRowid);
    if (this.#cachedLines + lines.length <= MEMORY_LINES) {
      this.#cache.set(chunk.id, chunk);
      this.#cachedLines += lines.length;
    }
    this.#setDepth(this.#depth + lines.length);
    return chunk;
  }

  /** The consecutive chunks after `afterId`, up to `maxLines` lines (but at least one chunk); [] when none. */
  chunksAfter(afterId: number, maxLines: number): Chunk[] {
    const chunks: Chunk[] = [];
    let size = 0;
    for (const { id, n } of this.#after.all(afterId) as { id: number; n: number }[]) {
      if (chunks.length > 0 && size + n > maxLines) break;
      const chunk = this.#chunk(id);
      if (!chunk) break;
      chunks.push(chunk);
      size += n;
    }
    return chunks;
  }

  /** The chunk from memory, or read back from the spool (left by an earlier run, or over the memory budget). */
  #chunk(id: number): Chunk | null {
    const cached = this.#cache.get(id);
    if (cached) return cached;
    const row = this.#db.prepare('SELECT id, lines, meta FROM spool WHERE id = ?').get(id) as
      | { id: number; lines: string; meta: string }
      | undefined;
    return row ? { id: row.id, lines: row.lines.split('\n'), meta: JSON.parse(row.meta) as LineMeta[] } : null;
  }

  /** Deletes settled chunks: those of one request, a contiguous id range (read in order, deleted only here). */
  remove(chunks: Chunk[]): void {
    this.#db.prepare('DELETE FROM spool WHERE id BETWEEN ? AND ?').run(chunks[0]!.id, chunks[chunks.length - 1]!.id);
    let removed = 0;
    for (const chunk of chunks) {
      removed += chunk.lines.length;
      if (this.#cache.delete(chunk.id)) this.#cachedLines -= chunk.lines.length;
    }
    this.#setDepth(Math.max(0, this.#depth - removed));
  }

  #setDepth(n: number): void {
    this.#depth = n;
    ingestMetrics.spoolDepth.set(n);
  }

  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }
}
