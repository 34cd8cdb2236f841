import type BetterSqlite3 from 'better-sqlite3';
import type { Kysely } from 'kysely';
import { formatDigest } from '../../core/digest.js';
import type { Database } from '../../meta/schema.js';
import { allCheckpoints, readHead } from '../../meta/repos/audit.js';
import { readSnapshot } from '../../meta/repos/snapshot.js';
import type { NoteVerifier } from '../note/index.js';
import { LogVerifier, unverifiedBody, type VerifyProblem } from './log-verifier.js';
import { STATE_FIELDS, StateEventReader } from './state/event-reader.js';
import type { ExpectedState } from './state/expected-state.js';
import { readDatasetVersions, readStateRows } from './state/read-state-rows.js';
import { StateReconciler, type StateReconciliation, type UnverifiableRow } from './state/reconcile-state.js';
import type { StateTable } from './state/state-rows.js';

export interface AuditVerifyReport {
  ok: boolean;
  size: number;
  root: string;
  checkpoints: number;
  trusted: { size: number } | null;
  /** The checkpoint kept outside the database that the log was checked against (null: none kept). */
  kept: { size: number; where: string } | null;
  actions: Record<string, number>;
  firstBad: VerifyProblem | null;
  problems: VerifyProblem[];
  artifacts: { checked: number; digests: number; erased?: number } | null;
  /** The reconciliation of the current rows with the log (null when it was not asked for). */
  state: { rows: Record<StateTable, number>; unverifiable: UnverifiableRow[] } | null;
  /** The log's audit keys, oldest first, and the size from which each signs (more than one after a rotation). */
  keys?: Array<{ vkey: string; from: number }>;
  /** Entries checked by their leaf hash alone: a team server withheld their content from this reader. */
  redacted?: number;
}

const PAGE = 20_000;

function keptSize(kept: { note: string; where: string } | undefined): AuditVerifyReport['kept'] {
  if (!kept) return null;
  try {
    // Its signature is checked by the verifier, against the key the log had at its size.
    return { size: unverifiedBody(kept.note).size, where: kept.where };
  } catch {
    return null;
  }
}

type VerifyOptions = {
  verifier: NoteVerifier;
  origin: string;
  trusted?: { note: string; verifier: NoteVerifier };
  /** The checkpoint kept outside the database; read it before the log (it may only lag the log). */
  kept?: { note: string; where: string };
  deep?: boolean;
  /** Default: SQLite when a raw handle is given, else PostgreSQL. */
  dialect?: 'sqlite' | 'postgres';
  /** The raw SQLite handle, when there is one: a plain row iterator is several times cheaper than pages through the query builder. */
  sqlite?: BetterSqlite3.Database;
  /** Reconcile the rows the log vouches for (default true). */
  state?: boolean;
  onEntry?: (idx: number, entry: string) => void;
  onProgress?: (n: number, total: number) => void;
};

/**
 * Streams every stored entry through the verifier in index order and, unless `state` is
 * false, reconciles the current rows with what the entries say they must be. Everything is
 * read in one database snapshot (docs/AUDIT.md §4), so commands writing meanwhile can neither
 * make the head, the checkpoints and the entries disagree nor rows and events.
 */
export async function verifyStoredLog(
  db: Kysely<Database>,
  opts: VerifyOptions,
): Promise<{ verifier: LogVerifier; report: AuditVerifyReport }> {
  const dialect = opts.dialect ?? (opts.sqlite ? 'sqlite' : 'postgres');
  const withState = opts.state !== false;
  return readSnapshot(db, dialect, async (snap) => {
    const head = await readHead(snap);
    const checkpoints = (await allCheckpoints(snap)).map((c) => ({ size: Number(c.size), root: c.root, note: c.note }));
    const v = new LogVerifier({
      checkpoints,
      verifier: opts.verifier,
      origin: opts.origin,
      deep: opts.deep === true,
      ...(opts.trusted ? { trusted: opts.trusted } : {}),
      ...(opts.kept ? { kept: opts.kept } : {}),
      ...(withState ? { keep: STATE_FIELDS } : {}),
    });
    // The verifier's scan already cut out the fields the state needs: no second parse of the entry.
    const events = withState ? new StateEventReader() : null;
    const take = (idx: number, entry: string, leaf: string): void => {
      v.push(idx, entry, leaf);
      opts.onEntry?.(idx, entry);
      events?.read(idx, v.lastAction, v.lastFields);
    };
    await scanEntries(snap, dialect === 'sqlite' ? opts.sqlite : undefined, head.size, take, opts.onProgress);
    v.finish(head.size);
    const problems: VerifyProblem[] = [...v.problems];
    let state: AuditVerifyReport['state'] = null;
    if (events) {
      const r = await reconcileRows(snap, dialect === 'sqlite' ? opts.sqlite : undefined, events.expected);
      problems.push(...r.problems);
      state = { rows: r.rows, unverifiable: r.unverifiable };
    }
    const report: AuditVerifyReport = {
      ok: problems.length === 0,
      size: v.size,
      root: formatDigest(v.root().toString('hex')),
      checkpoints: checkpoints.length,
      trusted: null,
      kept: keptSize(opts.kept),
      actions: Object.fromEntries(v.actions),
      firstBad: firstBadOf(v, problems),
      problems,
      artifacts: null,
      state,
    };
    return { verifier: v, report };
  });
}

/** Every stored entry in index order, inside the snapshot `snap` (the raw SQLite handle is the same connection). */
async function scanEntries(
  snap: Kysely<Database>,
  sqlite: BetterSqlite3.Database | undefined,
  total: number,
  take: (idx: number, entry: string, leaf: string) => void,
  onProgress: ((n: number, total: number) => void) | undefined,
): Promise<void> {
  if (sqlite) {
    const stmt = sqlite.prepare('select idx, entry, leaf_hash from audit_events order by idx').raw(true);
    let n = 0;
    for (const row of stmt.iterate() as Iterable<[number, string, string]>) {
      take(row[0], row[1], row[2]);
      if (++n % PAGE === 0) onProgress?.(n, total);
    }
    return;
  }
  let after = -1;
  for (;;) {
    const rows = await snap
      .selectFrom('audit_events')
      .select(['idx', 'entry', 'leaf_hash'])
      .where('idx', '>', after)
      .orderBy('idx')
      .limit(PAGE)
      .execute();
    for (const r of rows) take(Number(r.idx), r.entry, r.leaf_hash);
    if (rows.length < PAGE) break;
    after = Number(rows[rows.length - 1]!.idx);
    onProgress?.(after + 1, total);
  }
}

/** The current rows, read in the same snapshot, against what the log says they must be. */
async function reconcileRows(
  snap: Kysely<Database>,
  sqlite: BetterSqlite3.Database | undefined,
  expected: ExpectedState,
): Promise<StateReconciliation> {
  const r = new StateReconciler(expected);
  await readDatasetVersions(snap, sqlite, r.versions);
  return r.finish(await readStateRows(snap));
}

/**
 * The log's own first bad entry comes first (rows cannot be judged by a broken log); else the
 * state problem at the lowest event index; else the first row no event accounts for.
 */
export function firstBadOf(v: LogVerifier, problems: readonly VerifyProblem[]): VerifyProblem | null {
  const own = v.firstBad();
  if (own) return own;
  const indexed = problems.filter((p) => p.index !== null);
  if (indexed.length) return indexed.reduce((a, b) => (b.index! < a.index! ? b : a));
  return problems[0] ?? null;
}
