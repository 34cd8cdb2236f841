import { readFileSync } from 'node:fs';
import type BetterSqlite3 from 'better-sqlite3';
import type { Kysely } from 'kysely';
import { CairnError } from '../../core/errors.js';
import { parseTimeBound, type Clock } from '../../core/time.js';
import { eventByIndex, queryEvents, type EventFilter } from '../../meta/repos/audit.js';
import type { AuditEventRow, Database } from '../../meta/schema.js';
import type { BlobIndex } from '../../storage/blob-index.js';
import type { LocalPackDir } from '../../storage/objects/local-packs.js';
import type { TreeLoader } from '../../storage/tree/walk.js';
import type { WorkerPool } from '../../storage/workers/pool.js';
import type { AuditLog, InclusionBundle } from '../log/audit-log.js';
import { parseVerifierKey, type NoteVerifier } from '../note/index.js';
import { namedDigests, verifyArtifacts } from '../verify/artifacts.js';
import { verifyStoredLog, type AuditVerifyReport } from '../verify/verify-workspace.js';

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
}

export function viewOf(r: AuditEventRow): AuditEventView {
  const event = JSON.parse(r.entry) as { target?: { type?: string; name?: string; version?: number } };
  const t = event.target ?? {};
  return {
    index: Number(r.idx),
    id: r.event_id,
    time: r.time,
    actor: r.actor,
    action: r.action,
    target: `${t.type ?? '?'}${t.name ? `:${t.name}` : ''}${t.version ? `@v${t.version}` : ''}`,
    outcome: r.outcome,
    event,
  };
}

export async function listEvents(deps: AuditDeps, f: { actor?: string; action?: string; target?: string; outcome?: string; since?: string; until?: string; limit?: number }): Promise<AuditEventView[]> {
  const filter: EventFilter = {};
  if (f.actor) filter.actor = f.actor;
  if (f.action) filter.action = f.action;
  if (f.target) filter.targetName = f.target;
  if (f.outcome) {
    if (!['ok', 'failed', 'denied'].includes(f.outcome)) throw new CairnError('USAGE', `--outcome must be ok, failed or denied`);
    filter.outcome = f.outcome;
  }
  for (const [k, v] of [['since', f.since], ['until', f.until]] as const) {
    if (!v) continue;
    const d = parseTimeBound(v, deps.clock);
    if (!d) throw new CairnError('USAGE', `--${k} ${JSON.stringify(v)} is not an ISO time or an age like 7d`);
    filter[k] = d.toISOString();
  }
  if (f.limit) {
    filter.limit = f.limit;
    filter.desc = true;
  }
  const rows = await queryEvents(deps.meta.db, filter);
  if (f.limit) rows.reverse();
  return rows.map(viewOf);
}

export async function getEvent(deps: AuditDeps, index: number): Promise<AuditEventRow> {
  const r = await eventByIndex(deps.meta.db, index);
  if (!r) throw new CairnError('NOT_FOUND', `no audit event at index ${index}`, { hint: 'see `cairn audit log`' });
  return r;
}

export async function proveEvent(deps: AuditDeps, index: number): Promise<InclusionBundle & { verifierKey: string }> {
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
    trusted = { note, verifier: opts.key ? loadVerifierKey(opts.key) : deps.audit.keys.verifier };
  }
  const firstMention = new Map<string, number>();
  const { report } = await verifyStoredLog(deps.meta.db, {
    verifier: deps.audit.keys.verifier,
    origin: deps.audit.keys.origin,
    deep: opts.deep === true,
    state: opts.state !== false,
    ...(deps.meta.dialect ? { dialect: deps.meta.dialect } : {}),
    ...(deps.meta.sqlite ? { sqlite: deps.meta.sqlite } : {}),
    ...(trusted ? { trusted } : {}),
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
    ...(opts.artifacts
      ? {
          onEntry: (idx: number, entry: string) => {
            try {
              for (const d of namedDigests(entry)) if (!firstMention.has(d)) firstMention.set(d, idx);
            } catch {
              // Unparseable entries are already reported by the verifier.
            }
          },
        }
      : {}),
  });
  if (trusted) {
    const { openCheckpoint } = await import('../note/index.js');
    try {
      report.trusted = { size: openCheckpoint(trusted.note, [trusted.verifier]).checkpoint.size };
    } catch {
      report.trusted = null;
    }
  }
  if (opts.artifacts) {
    const a = await verifyArtifacts({ firstMention, ...opts.artifacts });
    report.problems.push(...a.problems);
    report.artifacts = { checked: a.checked, digests: firstMention.size };
    if (a.problems.length) {
      report.ok = false;
      const first = a.problems.reduce((x, y) => (y.index! < x.index! ? y : x));
      if (!report.firstBad || (report.firstBad.index ?? Infinity) > first.index!) report.firstBad = first;
    }
  }
  return report;
}
