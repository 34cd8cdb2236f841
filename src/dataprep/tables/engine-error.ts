import { CairnError } from '../../core/errors.js';

/**
 * What DuckDB said about a failed statement, structured. The engine runs with
 * `errors_as_json`, so instead of a message that echoes our generated SQL ("LINE 1: … ^")
 * each error carries its kind, the offset in the statement it points at, and for a missing
 * column or function the name and DuckDB's suggestions. That is what lets an error in a
 * user's predicate be put back at the file, line and column the user wrote it.
 */
export interface EngineDetail {
  /** "Binder", "Catalog", "Conversion", "Parser", "Invalid Input", … */
  type: string;
  /** DuckDB's message, without the query echo. */
  message: string;
  /** e.g. COLUMN_NOT_FOUND, MISSING_ENTRY. */
  subtype?: string;
  /** 0-based character offset into the statement. */
  position?: number;
  /** The missing column or function. */
  name?: string;
  /** DuckDB's nearest names, comma-separated. */
  candidates?: string;
  /** "Scalar Function", "Table", … for a missing catalog entry. */
  entryType?: string;
}

/** An engine failure: INVALID_INPUT, the message as DuckDB words it, and the structured detail. */
export class EngineError extends CairnError {
  constructor(
    readonly detail: EngineDetail,
    cause: unknown,
  ) {
    super('INVALID_INPUT', `${detail.type} Error: ${detail.message}`, {
      cause,
      hint: 'check the file named above; nothing was written',
    });
  }
}

/** Parses DuckDB's JSON error (also when it comes as "Parser Error: {…}"); null for a plain message. */
export function parseEngineMessage(message: string): EngineDetail | null {
  const start = message.indexOf('{');
  if (start < 0 || start > 40) return null;
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(message.slice(start)) as Record<string, unknown>;
  } catch {
    return null;
  }
  if (typeof j.exception_type !== 'string' || typeof j.exception_message !== 'string') return null;
  const str = (k: string) => (typeof j[k] === 'string' && j[k] !== '' ? (j[k] as string) : undefined);
  const pos = str('position');
  return {
    type: j.exception_type,
    message: j.exception_message.replace(/\s+$/, ''),
    ...(str('error_subtype') ? { subtype: str('error_subtype')! } : {}),
    ...(pos !== undefined && /^\d+$/.test(pos) ? { position: Number(pos) } : {}),
    ...(str('name') ? { name: str('name')! } : {}),
    ...(str('candidates') ? { candidates: str('candidates')! } : {}),
    ...(str('type') ? { entryType: str('type')! } : {}),
  };
}

export function isEngineError(err: unknown): err is EngineError {
  return err instanceof EngineError;
}

const quoteList = (names: readonly string[], max = 20) =>
  `${names
    .slice(0, max)
    .map((n) => JSON.stringify(n))
    .join(', ')}${names.length > max ? `, … (${names.length} in all)` : ''}`;

/**
 * What went wrong in a user's SQL expression, in words, with no generated SQL and no list of
 * DuckDB's 40 overloads: a missing column (with the columns there are), a missing function
 * (with DuckDB's suggestion), a type mismatch (with the advice to cast), or DuckDB's first line.
 */
export function describeSqlError(detail: EngineDetail, columns: readonly string[]): string {
  if (detail.subtype === 'COLUMN_NOT_FOUND' && detail.name) {
    return `it names column ${JSON.stringify(detail.name)}, which the table does not have (it has ${quoteList(columns)})`;
  }
  if (detail.subtype === 'MISSING_ENTRY' && detail.name) {
    const what =
      detail.entryType === 'Scalar Function' || detail.entryType === 'Aggregate Function'
        ? 'function'
        : (detail.entryType ?? 'name').toLowerCase();
    const suggestion = detail.candidates
      ? ` (did you mean ${detail.candidates
          .split(',')
          .map((c) => JSON.stringify(c.trim()))
          .join(' or ')}?)`
      : '';
    return `there is no ${what} ${JSON.stringify(detail.name)}${suggestion}`;
  }
  const first = detail.message.split('\n')[0]!.trim();
  if (/^No function matches the given name and argument types/.test(first)) {
    const sig = /'([^']+)'/.exec(first)?.[1];
    return `no function or operator ${sig ? JSON.stringify(sig) : ''} takes these types; cast a column explicitly (e.g. CAST(x AS DOUBLE))`.replace(
      '  ',
      ' ',
    );
  }
  return `${detail.type} Error: ${first}`;
}

/** Where, in a predicate, DuckDB's error points: the offset into `predicate`, or null. */
export function offsetInPredicate(detail: EngineDetail, sql: string, predicate: string): number | null {
  if (detail.position === undefined) return null;
  const at = sql.indexOf(`(${predicate}\n)`);
  if (at < 0) return null;
  const off = detail.position - (at + 1);
  return off >= 0 && off <= predicate.length ? off : null;
}
