import type { ExpectedState } from './expected-state.js';
import { short, type Findings } from './findings.js';
import type { StateRows } from './state-rows.js';
import type { VersionTable } from './version-table.js';

/**
 * Dataset versions, the biggest table, checked one row at a time as the shell reads them (no
 * object per row, no map keyed by `name@vN`): each row finds its slot by dataset and number
 * and is marked seen; slots left unmarked at the end are missing rows.
 */
export class VersionCheck {
  readonly #t: VersionTable;
  readonly #f: Findings;
  readonly #seen: Uint8Array;
  readonly #unaccounted: string[] = [];
  /** Rows compared. */
  rows = 0;

  constructor(expected: VersionTable, findings: Findings) {
    this.#t = expected;
    this.#f = findings;
    this.#seen = new Uint8Array(expected.size);
  }

  /** The slots of one dataset's versions, for callers that look them up once per dataset. */
  slotsOf(dataset: string): ReadonlyMap<number, number> | undefined {
    return this.#t.slotsOf(dataset);
  }

  row(dataset: string, number: number, digest: string, author: string): void {
    this.rowIn(this.#t.slotsOf(dataset), dataset, number, digest, author);
  }

  rowIn(
    slots: ReadonlyMap<number, number> | undefined,
    dataset: string,
    number: number,
    digest: string,
    author: string,
  ): void {
    this.rows++;
    const slot = slots?.get(number);
    if (slot === undefined) {
      this.#unaccounted.push(`${dataset}@v${number}`);
      return;
    }
    this.#seen[slot] = 1;
    const by = this.#t.authors[slot]!;
    const same = this.#t.digestIs(slot, digest);
    if (same && (by === null || author === by)) return;
    const diffs: string[] = [];
    if (!same) diffs.push(`its tree is ${short(digest)} but the log recorded ${short(this.#t.digest(slot))}`);
    if (by !== null && author !== by) diffs.push(`its author is ${author} but the log recorded ${by}`);
    this.#f.mismatch('dataset_versions', this.#t.key(slot), this.#at(slot), diffs);
  }

  /** After the last row: rows no event accounts for, then versions an event made that are gone. */
  finish(uncountedImports: ExpectedState['uncountedImports']): void {
    // Versions imported before imports were itemised cannot be told apart from forged rows:
    // while their number fits what those imports counted they are listed as unverifiable;
    // beyond it, every one of them is reported.
    const allowance = uncountedImports.reduce((n, i) => n + i.versions, 0);
    const unaccounted = this.#unaccounted;
    if (unaccounted.length && unaccounted.length <= allowance) {
      const at = uncountedImports[uncountedImports.length - 1]!.index;
      for (const key of unaccounted)
        this.#f.unverifiable.push({
          table: 'dataset_versions',
          key,
          index: at,
          message: `dataset_versions ${key} was presumably imported by a pull or clone recorded before events listed the versions they imported; it cannot be reconciled`,
        });
    } else for (const key of unaccounted) this.#f.unvouched('dataset_versions', key, 'exists');
    for (let slot = 0; slot < this.#seen.length; slot++)
      if (this.#seen[slot] === 0) {
        const at = this.#at(slot);
        this.#f.missing('dataset_versions', this.#t.key(slot), at.index, at.action);
      }
  }

  #at(slot: number): { index: number; action: string } {
    return { index: this.#t.indexes[slot]!, action: this.#t.actions[slot]! };
  }
}

/**
 * Dataset tags. An import that did not list the tags it set may have moved any tag after the
 * event that last set it: a difference after such an import is unverifiable.
 */
export function reconcileTags(expected: ExpectedState, rows: StateRows['datasetTags'], f: Findings): void {
  const lastTagImport = expected.tagImports.length ? expected.tagImports[expected.tagImports.length - 1]! : -1;
  const seen = new Set<string>();
  for (const r of rows) {
    const key = `${r.dataset}@${r.tag}`;
    seen.add(key);
    const v = expected.datasetTags.get(key);
    if (v && r.number === v.value.number && (v.value.digest === null || r.digest === v.value.digest)) continue;
    const points = r.number === null ? 'points at a version that does not exist' : `points at v${r.number}`;
    if (!v || lastTagImport > v.index) {
      if (lastTagImport < 0) f.unvouched('dataset_tags', key, points);
      else
        f.unverifiable.push({
          table: 'dataset_tags',
          key,
          index: lastTagImport,
          message: v
            ? `dataset_tags ${key} ${points}; the import at entry ${lastTagImport} may have moved it (it did not list the tags it set)`
            : `dataset_tags ${key} ${points}; no local event set it, and it may have come with the import at entry ${lastTagImport}, which did not list the tags it set`,
        });
      continue;
    }
    f.mismatch('dataset_tags', key, v, [
      r.number !== v.value.number
        ? `it ${points} but the log recorded v${v.value.number}`
        : `its version's tree is ${short(r.digest)} but the log recorded ${short(v.value.digest)}`,
    ]);
  }
  for (const [key, v] of expected.datasetTags)
    if (!seen.has(key) && !(lastTagImport > v.index)) f.missing('dataset_tags', key, v.index, v.action);
}
