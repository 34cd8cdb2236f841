import { mkdirSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { CairnError } from '../../core/errors.js';
import { EngineError, parseEngineMessage } from './engine-error.js';

/**
 * One embedded DuckDB per command: an in-memory database that spills to `tempDir` when it
 * outgrows `memoryLimit`, so tables larger than RAM still work (out-of-core), using every core.
 */
export interface TableEngine {
  /** Runs SQL and returns rows as plain JSON values (BIGINT/HUGEINT as numbers when exact, else strings). */
  all<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Runs SQL for its effect. */
  run(sql: string, params?: unknown[]): Promise<void>;
  close(): void;
}

export interface EngineOptions {
  tempDir: string;
  /** e.g. '4GB'; default: a quarter of this machine's memory. */
  memoryLimit?: string;
  threads?: number;
}

export async function openEngine(opts: EngineOptions): Promise<TableEngine> {
  mkdirSync(opts.tempDir, { recursive: true });
  const memoryLimit = opts.memoryLimit ?? `${Math.max(1, Math.floor(totalmem() / 4 / 1024 ** 3))}GB`;
  const instance = await DuckDBInstance.create(':memory:', {
    threads: String(opts.threads ?? availableParallelism()),
    memory_limit: memoryLimit,
    temp_directory: opts.tempDir,
    // Insertion order is irrelevant to every query we run; dropping it lets scans stream.
    preserve_insertion_order: 'false',
    // Structured errors (kind, position, missing name) instead of a message that echoes the
    // generated SQL: see engine-error.ts.
    errors_as_json: 'true',
  });
  const conn: DuckDBConnection = await instance.connect();
  return {
    async all<T>(sql: string, params?: unknown[]): Promise<T[]> {
      try {
        const reader = await conn.runAndReadAll(sql, params as never);
        try {
          return reader.getRowObjectsJS().map((r) => toPlain(r) as Record<string, unknown>) as T[];
        } catch {
          // The JS conversion cannot represent some values (e.g. DATE 'infinity'); the JSON
          // one renders everything as text.
          return reader.getRowObjectsJson() as T[];
        }
      } catch (err) {
        throw engineError(err);
      }
    },
    async run(sql: string, params?: unknown[]): Promise<void> {
      try {
        await conn.run(sql, params as never);
      } catch (err) {
        throw engineError(err);
      }
    },
    close() {
      conn.closeSync();
      instance.closeSync();
    },
  };
}

/**
 * Plain JSON values for reports: 64-bit integers as numbers while exact (else strings),
 * times as ISO strings, blobs as hex.
 */
export function toPlain(v: unknown): unknown {
  if (typeof v === 'bigint')
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : v.toISOString();
  if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
  if (Array.isArray(v)) return v.map(toPlain);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = toPlain(x);
    return out;
  }
  if (typeof v === 'number' && !Number.isFinite(v)) return null;
  return v;
}

/** DuckDB's messages are precise (they name the file, line and column); keep them, with their structure. */
export function engineError(err: unknown): CairnError {
  if (err instanceof CairnError) return err;
  const message = (err as Error)?.message ?? String(err);
  const detail = parseEngineMessage(message);
  if (detail) return new EngineError(detail, err);
  return new CairnError('INVALID_INPUT', message.replace(/\s+$/, ''), {
    cause: err,
    hint: 'check the file named above; nothing was written',
  });
}

/** A SQL identifier, always quoted (column names come from user data). */
export function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** A SQL string literal. */
export function lit(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}
