/**
 * Grouping rows by the values of one or more columns, for slices and fairness gaps.
 *
 * Values match by their text form (String(v); Dates as ISO-8601; null and undefined are one
 * "null" group), so 3 and "3" are the same group: a suite written in YAML names slices as text or
 * numbers while the column may come from CSV or Parquet, and a type mismatch must not turn into
 * a silently missing slice. Groups are listed in a fixed order (by the text of each column in
 * turn, null first, then by code unit), whatever the row order.
 */
import { CairnError } from '../../../core/errors.js';
import { closestName } from './suggest.js';

export type SliceValue = string | number | boolean | null;

/** Column name → one value per row. */
export type Columns = Readonly<Record<string, ArrayLike<unknown>>>;

export interface Group {
  /** The group's value per `by` column (the first row's value; text for other types). */
  key: Record<string, SliceValue>;
  /** The text forms used to match, per `by` column (null for null). */
  text: (string | null)[];
  /** "col=value, col=value", for messages. */
  name: string;
  /** Row indices of the group, ascending. */
  rows: Uint32Array;
}

export function valueText(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (v instanceof Date) return v.toISOString();
  return String(v);
}

function display(v: unknown): SliceValue {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
  return valueText(v);
}

export function sliceName(by: readonly string[], text: readonly (string | null)[]): string {
  return by.map((c, i) => `${c}=${text[i] ?? 'null'}`).join(', ');
}

/** Checks `by` against the columns (INVALID_INPUT naming an unknown column) and their lengths. */
export function checkColumns(columns: Columns, by: readonly string[], rows: number): void {
  if (by.length === 0) throw new CairnError('INVALID_INPUT', 'slices: no columns to group by');
  const known = Object.keys(columns);
  for (const c of by) {
    if (!Object.hasOwn(columns, c)) {
      const guess = closestName(c, known);
      throw new CairnError(
        'INVALID_INPUT',
        `slices: unknown column "${c}"${guess ? `; did you mean "${guess}"?` : ''}`,
        {
          data: { column: c, suggestion: guess ?? null, known },
        },
      );
    }
    const len = columns[c]!.length;
    if (len !== rows) {
      throw new CairnError('INVALID_INPUT', `slices: column "${c}" has ${len} values for ${rows} rows`, {
        data: { column: c, values: len, rows },
      });
    }
  }
}

/**
 * The groups of rows with equal (text) values in every `by` column. Each column is coded to
 * small integers with one Map lookup per row (no per-row strings or objects for values already
 * seen), the codes are combined column by column, then rows are bucketed with a counting sort.
 */
export function groupRows(columns: Columns, by: readonly string[], rows: number): Group[] {
  checkColumns(columns, by, rows);
  let ids = new Uint32Array(rows);
  let groupCount = 0;
  let firstRow: number[] = [];
  for (let ci = 0; ci < by.length; ci++) {
    const values = columns[by[ci]!]!;
    const byRaw = new Map<unknown, number>();
    const byText = new Map<string | null, number>();
    const combined = new Map<number, number>();
    const next = new Uint32Array(rows);
    const codes = new Uint32Array(rows);
    for (let i = 0; i < rows; i++) {
      const v = values[i];
      let c = byRaw.get(v);
      if (c === undefined) {
        const t = valueText(v);
        c = byText.get(t);
        if (c === undefined) {
          c = byText.size;
          byText.set(t, c);
        }
        byRaw.set(v, c);
      }
      codes[i] = c;
    }
    const card = byText.size;
    const newFirst: number[] = [];
    for (let i = 0; i < rows; i++) {
      const key = ci === 0 ? codes[i]! : ids[i]! * card + codes[i]!;
      let g = combined.get(key);
      if (g === undefined) {
        g = combined.size;
        combined.set(key, g);
        newFirst.push(i);
      }
      next[i] = g;
    }
    ids = next;
    groupCount = combined.size;
    firstRow = newFirst;
  }

  const sizes = new Uint32Array(groupCount);
  for (let i = 0; i < rows; i++) sizes[ids[i]!] = sizes[ids[i]!]! + 1;
  const buckets = Array.from({ length: groupCount }, (_, g) => new Uint32Array(sizes[g]!));
  const fill = new Uint32Array(groupCount);
  for (let i = 0; i < rows; i++) {
    const g = ids[i]!;
    buckets[g]![fill[g]!] = i;
    fill[g] = fill[g]! + 1;
  }
  const groups: Group[] = buckets.map((bucket, g) => {
    const first = firstRow[g]!;
    const key: Record<string, SliceValue> = {};
    const text = by.map((c) => {
      key[c] = display(columns[c]![first]);
      return valueText(columns[c]![first]);
    });
    return { key, text, name: sliceName(by, text), rows: bucket };
  });
  return groups.sort((a, b) => compareTexts(a.text, b.text));
}

export function compareTexts(a: readonly (string | null)[], b: readonly (string | null)[]): number {
  for (let i = 0; i < a.length; i++) {
    const x = a[i] ?? null;
    const y = b[i] ?? null;
    if (x === y) continue;
    if (x === null) return -1;
    if (y === null) return 1;
    return x < y ? -1 : 1;
  }
  return 0;
}

/** The values of `rows` picked from `values`, as a new Float64Array. */
export function gather(values: Float64Array, rows: Uint32Array): Float64Array {
  const out = new Float64Array(rows.length);
  for (let k = 0; k < rows.length; k++) out[k] = values[rows[k]!]!;
  return out;
}
