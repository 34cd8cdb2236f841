import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sql, type Selectable } from 'kysely';
import { CairnError } from '../../core/errors.js';
import type { RunsTable } from '../../meta/schema.js';
import type { RunKeyInput } from '../run-spec/run-key.js';
import type { RunDeps } from './deps.js';
import type { PreparedRun } from './prepare.js';

export type RunRow = Selectable<RunsTable>;

export const ACTIVE = ['pending', 'running'] as const;

/** A queued run being handed to its backend holds `claim:<ms>:<uuid>` in backend_id until its job's id replaces it. */
export const JOB_CLAIM = 'claim:';

/** The backend's id of the run's job, or null (none yet: queued, or its start still being claimed). */
export function jobIdOf(run: Pick<RunRow, 'backend_id'>): string | null {
  return run.backend_id && !run.backend_id.startsWith(JOB_CLAIM) ? run.backend_id : null;
}
export const TERMINAL = ['completed', 'failed', 'cancelled', 'timeout', 'node_fail', 'reused', 'refused'] as const;

export function isTerminal(status: string): boolean {
  return (TERMINAL as readonly string[]).includes(status);
}

/** What `run` stores as the spec: the resolved spec plus the key input, for plans and audits. */
export interface StoredSpec {
  spec: PreparedRun['spec'];
  specPath: string;
  codeDir: string;
  command: string;
  inputs: PreparedRun['inputs'];
  keyInput: RunKeyInput;
}

export interface Reason {
  code:
    | 'QUOTA'
    | 'RESOURCES'
    | 'CAPACITY'
    | 'BACKEND'
    | 'BUDGET'
    | 'CACHE_HIT'
    | 'EXIT'
    | 'TIMEOUT'
    | 'NODE_FAIL'
    | 'CANCELLED'
    | 'LOST'
    | 'IDLE_FLAG'
    | 'IDLE_CHECKPOINT'
    | 'IDLE_STOP';
  message: string;
  [k: string]: unknown;
}

/** Where run folders and checkpoints live: the server's jobs dir when it has one, else the workspace. */
type JobsRoot = Pick<RunDeps, 'cairnDir'> & { compute?: Pick<RunDeps['compute'], 'jobsDir'> };
const jobsRoot = (deps: JobsRoot) => deps.compute?.jobsDir ?? deps.cairnDir;

export function runDir(deps: JobsRoot, id: string): string {
  return join(jobsRoot(deps), 'runs', id);
}

/**
 * The per-file digests of a run's code, kept in its folder (`code-files.json`) rather than in
 * its row: they can run to thousands of entries, and only `run plan` reads them, to name the
 * files that differ from this run.
 */
export function writeCodeFiles(dir: string, files: PreparedRun['codeFiles']): void {
  if (!files) return;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'code-files.json'), `${JSON.stringify(files)}\n`);
}

/** What writeCodeFiles kept for a run, or null (a run from before they were kept, or a folder cleaned up). */
export function readCodeFiles(dir: string): PreparedRun['codeFiles'] {
  try {
    return JSON.parse(readFileSync(join(dir, 'code-files.json'), 'utf8')) as PreparedRun['codeFiles'];
  } catch {
    return null;
  }
}

/** Checkpoints belong to the run key, so a requeued or re-submitted identical run resumes from them. */
export function checkpointDir(deps: JobsRoot, key: string): string {
  return join(jobsRoot(deps), 'checkpoints', key);
}

/**
 * The finished run of `project` whose results an identical run would reuse, or null. Only a run
 * of the same project is reused: the run key leaves the project out, and a hit names the run it
 * reuses (`reusedFrom`) and hands over its outputs, which would tell a submitter of one project
 * about a run of another that they may not read (docs/SERVER.md "What a reader of some projects
 * sees"). The cost is one more execution when two projects run the identical job.
 */
export async function cacheHit(deps: Pick<RunDeps, 'meta'>, key: string, project: string): Promise<RunRow | null> {
  return (
    (await deps.meta.db
      .selectFrom('runs')
      .selectAll()
      .where('run_key', '=', key)
      .where('project', '=', project)
      .where('status', '=', 'completed')
      // An imported run ran elsewhere, on an environment this side never saw: never a cache hit.
      .where('id', 'not in', deps.meta.db.selectFrom('run_imports').select('run_id'))
      .orderBy('ended_at', 'desc')
      .limit(1)
      .executeTakeFirst()) ?? null
  );
}

export function gpuSeconds(r: Pick<RunRow, 'gpus' | 'started_at' | 'ended_at'>): number {
  if (!r.started_at || !r.ended_at || r.gpus === 0) return 0;
  return (r.gpus * (Date.parse(r.ended_at) - Date.parse(r.started_at))) / 1000;
}

/** Which runs a reference may resolve to: those of `projects` only (absent: every run). */
export interface RunScope {
  projects?: readonly string[];
}

/**
 * A run by its id, its human name, or a unique prefix of either (docs/RUNS.md "Finding runs"). A
 * UUIDv7 starts with its creation time, so runs made the same day share their first characters:
 * the name (or its prefix) is what people type. Ambiguity is an error that lists the candidates.
 *
 * With `scope.projects`, the reference is resolved as if only those projects' runs existed: a
 * unique match among them resolves even where another project's run shares the prefix, and
 * none is the same NOT_FOUND as a run that does not exist (a server answering a reader of some
 * projects: an ambiguity counted over every run would tell them another run shares it).
 */
export async function getRun(deps: Pick<RunDeps, 'meta'>, ref: string, scope: RunScope = {}): Promise<RunRow> {
  const db = deps.meta.db;
  const projects = scope.projects;
  if (projects && projects.length === 0) throw unknownRun(ref);
  const runs = () =>
    projects ? db.selectFrom('runs').selectAll().where('project', 'in', projects) : db.selectFrom('runs').selectAll();
  const exact = await runs().where('id', '=', ref).executeTakeFirst();
  if (exact) return exact;
  const named = await runs().where('human_name', '=', ref).limit(11).execute();
  if (named.length === 1) return named[0]!;
  if (named.length > 1) throw ambiguous(ref, named);
  const like = `${ref.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
  const rows = ref
    ? await runs()
        .where((eb) =>
          eb.or([
            eb('id', 'like', sql<string>`${like} escape '\\'`),
            eb('human_name', 'like', sql<string>`${like} escape '\\'`),
          ]),
        )
        .orderBy('created_at', 'desc')
        .limit(11)
        .execute()
    : [];
  if (rows.length === 0) throw unknownRun(ref);
  if (rows.length > 1) throw ambiguous(ref, rows);
  return rows[0]!;
}

function unknownRun(ref: string): CairnError {
  return new CairnError('NOT_FOUND', `no run ${ref}`, {
    hint: 'give a run id, a run name or a unique prefix of either (cairn run ls lists them)',
  });
}

function ambiguous(ref: string, rows: RunRow[]): CairnError {
  const shown = rows.slice(0, 10).map((r) => ({ id: r.id, name: r.human_name, spec: r.name, createdAt: r.created_at }));
  const lines = shown.map((c) => `  ${c.id}  ${c.name ?? ''}  ${c.spec}  ${c.createdAt}`);
  return new CairnError(
    'AMBIGUOUS_REF',
    `${ref} matches ${rows.length > 10 ? 'more than 10' : rows.length} runs:\n${lines.join('\n')}`,
    { hint: 'give more characters, or the full run id', data: { ref, candidates: shown } },
  );
}
