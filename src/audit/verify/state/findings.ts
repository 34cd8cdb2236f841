import type { VerifyProblem } from '../log-verifier.js';
import type { Vouched } from './expected-state.js';
import type { StateTable } from './state-rows.js';

export interface StateProblem extends VerifyProblem {
  kind: 'state-mismatch' | 'state-unvouched' | 'state-missing';
  table: StateTable;
  key: string;
}

/** A row the log cannot vouch for either way (imported before imports were itemised). */
export interface UnverifiableRow {
  table: StateTable;
  key: string;
  index: number;
  message: string;
}

/** A digest as messages show it. */
export const short = (d: string | null | undefined) => (d ? `sha256:${d.slice(0, 12)}…` : 'nothing');

/** What the reconcilers found, in the words every table's problems share. */
export class Findings {
  readonly problems: StateProblem[] = [];
  readonly unverifiable: UnverifiableRow[] = [];

  /** A row that differs from the event that created or last moved it (nothing when `diffs` is empty). */
  mismatch(table: StateTable, key: string, v: { index: number; action: string }, diffs: string[]): void {
    if (diffs.length)
      this.problems.push({
        index: v.index,
        kind: 'state-mismatch',
        table,
        key,
        message: `${table} ${key} differs from entry ${v.index} (${v.action}): ${diffs.join('; ')}`,
      });
  }

  /** A row no event accounts for. */
  unvouched(table: StateTable, key: string, what: string): void {
    this.problems.push({
      index: null,
      kind: 'state-unvouched',
      table,
      key,
      message: `${table} ${key} ${what}, but no event in the log accounts for it (written to the database directly?)`,
    });
  }

  /** A row an event created that is gone. */
  missing(table: StateTable, key: string, index: number, action: string): void {
    this.problems.push({
      index,
      kind: 'state-missing',
      table,
      key,
      message: `${table} ${key}, recorded by entry ${index} (${action}), is missing from the database`,
    });
  }

  /** The keys in `seen` of the rows read, then every expected key not among them is missing. */
  missingFrom<T extends { index: number; action: string }>(
    table: StateTable,
    expected: ReadonlyMap<string, T>,
    seen: ReadonlySet<string>,
  ): void {
    for (const [key, v] of expected) if (!seen.has(key)) this.missing(table, key, v.index, v.action);
  }
}

export type { Vouched };
