import type BetterSqlite3 from 'better-sqlite3';
import type { Kysely } from 'kysely';
import { formatDigest } from '../../core/digest.js';
import type { Database } from '../../meta/schema.js';
import { allCheckpoints, readHead } from '../../meta/repos/audit.js';
import { openCheckpoint, type NoteVerifier } from '../note/index.js';
import { LogVerifier, type VerifyProblem } from './log-verifier.js';

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
}

const PAGE = 20_000;

function keptSize(kept: { note: string; where: string } | undefined, verifier: NoteVerifier): AuditVerifyReport['kept'] {
  if (!kept) return null;
  try {
    return { size: openCheckpoint(kept.note, [verifier]).checkpoint.size, where: kept.where };
  } catch {
    return null;
  }
}

/** Streams every stored entry through the verifier in index order (keyset pages). */
export async function verifyStoredLog(
  db: Kysely<Database>,
  opts: {
    verifier: NoteVerifier;
    origin: string;
    trusted?: { note: string; verifier: NoteVerifier };
    /** The checkpoint kept outside the database; read it before the log (it may only lag the log). */
    kept?: { note: string; where: string };
    deep?: boolean;
    /** The raw SQLite handle, when there is one: a plain row iterator is several times cheaper than pages through the query builder. */
    sqlite?: BetterSqlite3.Database;
    onEntry?: (idx: number, entry: string) => void;
    onProgress?: (n: number, total: number) => void;
  },
): Promise<{ verifier: LogVerifier; report: AuditVerifyReport }> {
  const head = await readHead(db);
  const checkpoints = (await allCheckpoints(db)).map((c) => ({ size: Number(c.size), root: c.root, note: c.note }));
  const v = new LogVerifier({ checkpoints, verifier: opts.verifier, origin: opts.origin, deep: opts.deep === true, ...(opts.trusted ? { trusted: opts.trusted } : {}), ...(opts.kept ? { kept: opts.kept } : {}) });
  if (opts.sqlite) {
    const stmt = opts.sqlite.prepare('select idx, entry, leaf_hash from audit_events order by idx').raw(true);
    let n = 0;
    for (const row of stmt.iterate() as Iterable<[number, string, string]>) {
      v.push(row[0], row[1], row[2]);
      opts.onEntry?.(row[0], row[1]);
      if (++n % PAGE === 0) opts.onProgress?.(n, head.size);
    }
  }
  let after = opts.sqlite ? Infinity : -1;
  while (after !== Infinity) {
    const rows = await db.selectFrom('audit_events').select(['idx', 'entry', 'leaf_hash']).where('idx', '>', after).orderBy('idx').limit(PAGE).execute();
    for (const r of rows) {
      const idx = Number(r.idx);
      v.push(idx, r.entry, r.leaf_hash);
      opts.onEntry?.(idx, r.entry);
    }
    if (rows.length < PAGE) break;
    after = Number(rows[rows.length - 1]!.idx);
    opts.onProgress?.(after + 1, head.size);
  }
  v.finish(head.size);
  const report: AuditVerifyReport = {
    ok: v.problems.length === 0,
    size: v.size,
    root: formatDigest(v.root().toString('hex')),
    checkpoints: checkpoints.length,
    trusted: null,
    kept: keptSize(opts.kept, opts.verifier),
    actions: Object.fromEntries(v.actions),
    firstBad: v.firstBad(),
    problems: v.problems,
    artifacts: null,
  };
  return { verifier: v, report };
}
