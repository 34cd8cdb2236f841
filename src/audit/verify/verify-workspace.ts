import type BetterSqlite3 from 'better-sqlite3';
import type { Kysely } from 'kysely';
import { formatDigest } from '../../core/digest.js';
import type { Database } from '../../meta/schema.js';
import { allCheckpoints, readHead } from '../../meta/repos/audit.js';
import { readSnapshot } from '../../meta/repos/snapshot.js';
import { openCheckpoint, type NoteVerifier } from '../note/index.js';
import { LogVerifier, type VerifyProblem } from './log-verifier.js';
import { ExpectedState, STATE_ACTIONS, type LoggedEvent } from './state/expected-state.js';
import { readStateRows } from './state/read-state-rows.js';
import { reconcileState, type UnverifiableRow } from './state/reconcile-state.js';
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
  artifacts: { checked: number; digests: number } | null;
  /** The reconciliation of the current rows with the log (null when it was not asked for). */
  state: { rows: Record<StateTable, number>; unverifiable: UnverifiableRow[] } | null;
}

const PAGE = 20_000;

function keptSize(
  kept: { note: string; where: string } | undefined,
  verifier: NoteVerifier,
): AuditVerifyReport['kept'] {
  if (!kept) return null;
  try {
    return { size: openCheckpoint(kept.note, [verifier]).checkpoint.size, where: kept.where };
  } catch {
    return null;
  }
}

const BASIC_FIELDS: ReadonlySet<string> = new Set(['actor', 'target', 'outcome', 'reason']);
const ALL_FIELDS: ReadonlySet<string> = new Set(['actor', 'target', 'outcome', 'reason', 'params', 'outputs']);
const REPEATING: ReadonlySet<string> = new Set(['actor', 'outcome', 'reason']);
/**
 * Streams every stored entry through the verifier in index order and, unless `state` is
 * false, reconciles the current rows with what the entries say they must be. Everything is
 * read in one database snapshot (docs/AUDIT.md §4), so commands writing meanwhile can neither
 * make the head, the checkpoints and the entries disagree nor rows and events.
 */
export async function verifyStoredLog(
  db: Kysely<Database>,
  opts: {
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
  },
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
      ...(withState ? { keep: ALL_FIELDS } : {}),
    });
    const expected = new ExpectedState();
    const seen = new Map<string, unknown>();
    const take = (idx: number, entry: string, leaf: string): void => {
      v.push(idx, entry, leaf);
      opts.onEntry?.(idx, entry);
      if (!withState) return;
      const action = v.lastAction;
      const raw = v.lastFields;
      if (action === null || raw === null || !STATE_ACTIONS.has(action)) return;
      // Parse only the small fields the action's reconciliation reads (a version's creation
      // needs no params): the verifier's scan already cut them out of the entry.
      const ev: Record<string, unknown> = { action };
      try {
        for (const k of action === 'dataset.version.create' || action === 'dataset.clean' ? BASIC_FIELDS : ALL_FIELDS) {
          const text = raw[k];
          if (text === undefined) continue;
          // Actors, outcomes and reasons repeat from entry to entry: parse each text once.
          if (REPEATING.has(k)) {
            let value = seen.get(text);
            if (value === undefined && !seen.has(text)) {
              value = JSON.parse(text) as unknown;
              if (seen.size < 10_000) seen.set(text, value);
            }
            ev[k] = value;
          } else ev[k] = JSON.parse(text);
        }
      } catch {
        return; // A malformed value: the log checks report the entry.
      }
      expected.apply(idx, ev as LoggedEvent);
    };
    if (opts.sqlite && dialect === 'sqlite') {
      // Same connection as `snap`, so this scan reads inside the snapshot too.
      const stmt = opts.sqlite.prepare('select idx, entry, leaf_hash from audit_events order by idx').raw(true);
      let n = 0;
      for (const row of stmt.iterate() as Iterable<[number, string, string]>) {
        take(row[0], row[1], row[2]);
        if (++n % PAGE === 0) opts.onProgress?.(n, head.size);
      }
    } else {
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
        opts.onProgress?.(after + 1, head.size);
      }
    }
    v.finish(head.size);
    const problems: VerifyProblem[] = [...v.problems];
    let state: AuditVerifyReport['state'] = null;
    if (withState) {
      const r = reconcileState(expected, await readStateRows(snap));
      problems.push(...r.problems);
      state = { rows: r.rows, unverifiable: r.unverifiable };
    }
    const report: AuditVerifyReport = {
      ok: problems.length === 0,
      size: v.size,
      root: formatDigest(v.root().toString('hex')),
      checkpoints: checkpoints.length,
      trusted: null,
      kept: keptSize(opts.kept, opts.verifier),
      actions: Object.fromEntries(v.actions),
      firstBad: firstBadOf(v, problems),
      problems,
      artifacts: null,
      state,
    };
    return { verifier: v, report };
  });
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
