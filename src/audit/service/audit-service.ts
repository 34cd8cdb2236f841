import { readFileSync } from 'node:fs';
import type BetterSqlite3 from 'better-sqlite3';
import type { Kysely } from 'kysely';
import { CairnError } from '../../core/errors.js';
import { parseTimeBound, type Clock } from '../../core/time.js';
import { eventByIndex } from '../../meta/repos/audit.js';
import { eventRowsMatching, likeLiteral } from '../../meta/repos/audit-entries.js';
import type { AuditEventRow, Database } from '../../meta/schema.js';
import type { BlobIndex } from '../../storage/blob-index.js';
import type { LocalPackDir } from '../../storage/objects/local-packs.js';
import type { TreeLoader } from '../../storage/tree/walk.js';
import type { WorkerPool } from '../../storage/workers/pool.js';
import type { AuditLog, InclusionBundle } from '../log/audit-log.js';
import { leafHashOfText } from '../merkle/index.js';
import { formatVerifierKey, parseVerifierKey, type NoteVerifier } from '../note/index.js';
import { chainKey } from '../log/key-transition.js';
import type { VerifyProblem } from '../verify/log-verifier.js';
import { erasedDigest, namedDigests, verifyArtifacts } from '../verify/artifacts.js';
import { verifyStoredLog, type AuditVerifyReport } from '../verify/verify-workspace.js';
import type { ReadDb } from '../../meta/read-db.js';

export interface AuditDeps {
  meta: { db: Kysely<Database>; sqlite?: BetterSqlite3.Database; dialect?: 'sqlite' | 'postgres' };
  audit: AuditLog;
  clock: Clock;
}

export interface AuditEventView {
  index: number;
  id: string;
  time: string;
  actor: string;
  action: string;
  target: string;
  outcome: string;
  event: unknown;
  /** The stored entry does not hash to its leaf (or is not JSON): what it says is not what the log committed to. */
  tampered: boolean;
}

/**
 * What a stored entry says, read from the entry itself once its bytes hash to its leaf. The
 * columns beside it (actor, action, target, outcome, time) are only a search index: they are
 * not covered by the hash and may have been changed with SQL, so they are never shown.
 */
export function viewOf(r: AuditEventRow): AuditEventView {
  const index = Number(r.idx);
  let tampered = leafHashOfText(r.entry).toString('hex') !== r.leaf_hash;
  let event: Record<string, unknown> | null = null;
  try {
    const parsed = JSON.parse(r.entry) as unknown;
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) event = parsed as Record<string, unknown>;
  } catch {
    event = null;
  }
  if (!event) tampered = true;
  const e = (event ?? {}) as {
    id?: unknown;
    time?: unknown;
    actor?: { id?: unknown };
    action?: unknown;
    target?: { type?: unknown; name?: unknown; version?: unknown };
    outcome?: unknown;
  };
  const t = e.target ?? {};
  const text = (v: unknown) => (typeof v === 'string' ? v : '?');
  return {
    index,
    id: text(e.id),
    time: text(e.time),
    actor: text(e.actor?.id),
    action: text(e.action),
    target: `${text(t.type)}${typeof t.name === 'string' ? `:${t.name}` : ''}${typeof t.version === 'number' ? `@v${t.version}` : ''}`,
    outcome: text(e.outcome),
    event: event ?? r.entry,
    tampered,
  };
}

export interface EventQuery {
  actor?: string;
  action?: string;
  target?: string;
  outcome?: string;
  since?: string;
  until?: string;
  limit?: number;
}

const PAGE = 2_000;

/**
 * Events matching the filters, in index order (the newest `limit`, when given). Filters apply
 * to what each verified entry says; the entry text narrows the search in SQL first (canonical
 * JSON puts `action` first, so an action filter is an anchored prefix). Entries that do not
 * hash to their leaf are returned too, marked tampered.
 */
export async function listEvents(deps: AuditDeps, f: EventQuery): Promise<AuditEventView[]> {
  if (f.outcome && !['ok', 'failed', 'denied'].includes(f.outcome))
    throw new CairnError('USAGE', `--outcome must be ok, failed or denied`);
  const bounds: { since?: string; until?: string } = {};
  for (const [k, v] of [
    ['since', f.since],
    ['until', f.until],
  ] as const) {
    if (!v) continue;
    const d = parseTimeBound(v, deps.clock);
    if (!d) throw new CairnError('USAGE', `--${k} ${JSON.stringify(v)} is not an ISO time or an age like 7d`);
    bounds[k] = d.toISOString();
  }
  const prefix = f.action?.endsWith('*') ? f.action.slice(0, -1) : null;
  const patterns: string[] = [];
  if (f.action)
    patterns.push(
      prefix !== null ? `{"action":"${likeLiteral(prefix)}%` : `{"action":${likeLiteral(JSON.stringify(f.action))},%`,
    );
  if (f.actor) patterns.push(`%"id":${likeLiteral(JSON.stringify(f.actor))}%`);
  if (f.target) patterns.push(`%"name":${likeLiteral(JSON.stringify(f.target))}%`);
  if (f.outcome) patterns.push(`%"outcome":${likeLiteral(JSON.stringify(f.outcome))}%`);
  const wanted = (v: AuditEventView): boolean => {
    const e = v.event as { actor?: { id?: unknown }; target?: { name?: unknown } };
    if (f.action && (prefix !== null ? !v.action.startsWith(prefix) : v.action !== f.action)) return false;
    if (f.actor && e.actor?.id !== f.actor) return false;
    if (f.target && e.target?.name !== f.target) return false;
    if (f.outcome && v.outcome !== f.outcome) return false;
    if (bounds.since && !(v.time >= bounds.since)) return false;
    if (bounds.until && !(v.time < bounds.until)) return false;
    return true;
  };
  const desc = Boolean(f.limit);
  const out: AuditEventView[] = [];
  let cursor: number | null = null;
  for (;;) {
    const rows = await eventRowsMatching(deps.meta.db, { patterns, cursor, desc, limit: PAGE });
    for (const r of rows) {
      const v = viewOf(r);
      if (wanted(v)) out.push(v);
      if (f.limit && out.length >= f.limit) break;
    }
    if (rows.length < PAGE || (f.limit && out.length >= f.limit)) break;
    cursor = Number(rows[rows.length - 1]!.idx);
  }
  if (desc) out.reverse();
  return out;
}

/** One event row; `viewOf` says what it holds and whether it checks out. */
export async function getEvent(deps: { meta: { db: ReadDb } }, index: number): Promise<AuditEventRow> {
  const r = await eventByIndex(deps.meta.db, index);
  if (!r) throw new CairnError('NOT_FOUND', `no audit event at index ${index}`, { hint: 'see `cairn audit log`' });
  return r;
}

export async function proveEvent(
  deps: { meta: { db: ReadDb }; audit: AuditLog },
  index: number,
): Promise<InclusionBundle & { verifierKey: string }> {
  const r = await getEvent(deps, index);
  const bundle = await deps.audit.prove(index, r.entry, r.leaf_hash);
  const { formatVerifierKey } = await import('../note/index.js');
  return { ...bundle, verifierKey: formatVerifierKey(deps.audit.keys.origin, deps.audit.keys.rawPublicKey) };
}

/** A verifier key given as text or as a file holding it. */
export function loadVerifierKey(spec: string): NoteVerifier {
  let text = spec.trim();
  if (!/^[^\s+]+\+[0-9a-f]{8}\+/.test(text)) {
    try {
      text = readFileSync(spec, 'utf8').trim();
    } catch {
      throw new CairnError('USAGE', `--key must be a verifier key (name+hash+key) or a file holding one`);
    }
  }
  const k = parseVerifierKey(text);
  return { name: k.name, keyId: k.keyId, publicKey: k.publicKey };
}

export interface VerifyOptions {
  againstFile?: string;
  key?: string;
  /** Parse every entry fully and require canonical JSON. */
  deep?: boolean;
  artifacts?: { index: BlobIndex; packs: LocalPackDir; pool: WorkerPool; load: TreeLoader };
  /**
   * Reconcile the rows the log vouches for with its events (default true). Only tests and
   * benchmarks of the log alone, on synthetic events with no rows behind them, turn it off.
   */
  state?: boolean;
  onProgress?: (n: number, total: number) => void;
}

export async function verifyWorkspaceLog(deps: AuditDeps, opts: VerifyOptions): Promise<AuditVerifyReport> {
  let trusted: { note: string; verifier: NoteVerifier } | undefined;
  if (opts.againstFile) {
    let note: string;
    try {
      note = readFileSync(opts.againstFile, 'utf8');
    } catch (err) {
      throw new CairnError('IO_ERROR', `cannot read ${opts.againstFile}: ${(err as Error).message}`);
    }
    // The workspace's own key would only show that the workspace agrees with itself: whoever
    // rewrote the log with that key can re-sign the exported checkpoint too (DESIGN.md §10).
    if (!opts.key) {
      throw new CairnError(
        'UNTRUSTED_KEY',
        `--against needs the verifier key you trust (--key): checking ${opts.againstFile} with the workspace's own key proves only self-consistency`,
        {
          hint: 'pass --key with the verifier key printed by `cairn init` or `cairn audit checkpoint`, kept outside the workspace',
        },
      );
    }
    trusted = { note, verifier: loadVerifierKey(opts.key) };
  }
  // Read before the log: it is written after the entries it covers, so it can lag the log but never lead it.
  const kept = deps.audit.keptNote();
  const firstMention = new Map<string, number>();
  // Digests whose bytes a signed `dataset.erase` event says were erased on purpose: the log, not
  // a table anyone with the database could edit, decides which missing objects are expected.
  const erased = new Map<string, number>();
  const { firstKey, chainProblems, currentVkey } = await chainStartOf(deps.audit);
  const { report, verifier } = await verifyStoredLog(deps.meta.db, {
    verifier: firstKey,
    origin: deps.audit.keys.origin,
    deep: opts.deep === true,
    state: opts.state !== false,
    ...(deps.meta.dialect ? { dialect: deps.meta.dialect } : {}),
    ...(deps.meta.sqlite ? { sqlite: deps.meta.sqlite } : {}),
    ...(trusted ? { trusted } : {}),
    ...(kept ? { kept } : {}),
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
    ...(opts.artifacts
      ? {
          onEntry: (idx: number, entry: string) => {
            try {
              for (const d of namedDigests(entry)) if (!firstMention.has(d)) firstMention.set(d, idx);
              const gone = erasedDigest(entry);
              if (gone) erased.set(gone, idx);
            } catch {
              // Unparseable entries are already reported by the verifier.
            }
          },
        }
      : {}),
  });
  addProblems(report, [...chainProblems, ...chainEndProblems(verifier.chain.current.vkey, currentVkey)]);
  report.keys = verifier.chain.keys.map((k) => ({ vkey: k.key.vkey, from: k.from }));
  if (trusted) {
    const { openCheckpoint } = await import('../note/index.js');
    try {
      report.trusted = { size: openCheckpoint(trusted.note, [trusted.verifier]).checkpoint.size };
    } catch {
      report.trusted = null;
    }
  }
  if (opts.artifacts) {
    for (const d of erased.keys()) firstMention.delete(d);
    const a = await verifyArtifacts({ firstMention, ...opts.artifacts });
    report.problems.push(...a.problems);
    report.artifacts = { checked: a.checked, digests: firstMention.size, erased: erased.size };
    if (a.problems.length) {
      report.ok = false;
      const first = a.problems.reduce((x, y) => (y.index! < x.index! ? y : x));
      if (!report.firstBad || (report.firstBad.index ?? Infinity) > first.index!) report.firstBad = first;
    }
  }
  return report;
}

/**
 * The chain starts at the key the first transition hands over from (or the only key there ever
 * was) and must end at the key the workspace signs with now (docs/AUDIT.md §8).
 */
async function chainStartOf(
  audit: AuditLog,
): Promise<{ firstKey: NoteVerifier; chainProblems: VerifyProblem[]; currentVkey: string }> {
  const rotations = await audit.keyRotations();
  const currentVkey = formatVerifierKey(audit.keys.origin, audit.keys.rawPublicKey);
  const chainProblems: VerifyProblem[] = [];
  let firstKey: NoteVerifier = audit.keys.verifier;
  if (rotations[0]) {
    try {
      firstKey = chainKey(rotations[0].from);
    } catch (err) {
      chainProblems.push({
        index: rotations[0].index,
        kind: 'key-transition',
        message: `entry ${rotations[0].index} names a first key that is not a verifier key: ${(err as Error).message}`,
      });
    }
  }
  return { firstKey, chainProblems, currentVkey };
}

function addProblems(report: AuditVerifyReport, problems: VerifyProblem[]): void {
  if (!problems.length) return;
  report.problems.push(...problems);
  report.ok = false;
  report.firstBad ??= problems[0]!;
}

function chainEndProblems(chainEnd: string, currentVkey: string): VerifyProblem[] {
  if (chainEnd === currentVkey) return [];
  return [
    {
      index: null,
      kind: 'key-chain',
      message: `the log's key transitions end at ${chainEnd}, but the workspace signs with ${currentVkey}: a key that appeared from nowhere, or a rotation that never finished`,
    },
  ];
}
