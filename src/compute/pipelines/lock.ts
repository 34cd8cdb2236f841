import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CairnError } from '../../core/errors.js';

/** What cairn.lock records for a pipeline stage (docs/PIPELINES.md "cairn.lock"). */
export interface StageLock {
  run: string;
  runKey: string;
  command: string;
  /** The code part of the run key: commit and uncommitted-changes digest, or the declared paths' digest. */
  code: { commit: string | null; dirty: string | null; paths?: string[] } | null;
  inputs: Record<string, { ref: string; digest: string }>;
  params: Record<string, unknown>;
  outputs: { ref: string; digest: string } | null;
}

/**
 * Writes the stages' pins into the cairn.lock next to the pipeline, keeping what else it holds
 * (the models `cairn model lock` pinned, stages not run this time). Written to a temporary
 * file and renamed, so a crash leaves the old lock or the new one, never half of one.
 */
export function writeStageLock(pipelinePath: string, entries: Record<string, StageLock>): string {
  const path = join(dirname(pipelinePath), 'cairn.lock');
  let lock: Record<string, unknown> = { format: 'cairn.lock/v1', models: {} };
  if (existsSync(path)) {
    try {
      lock = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    } catch (err) {
      throw new CairnError('INVALID_INPUT', `cannot read ${path}: ${(err as Error).message}`, {
        hint: 'fix or remove it; cairn repro rewrites its stages',
      });
    }
    if (lock.format !== 'cairn.lock/v1') throw new CairnError('INVALID_INPUT', `${path} is not a cairn.lock/v1 file`);
  }
  const stages = { ...((lock.stages as Record<string, StageLock> | undefined) ?? {}), ...entries };
  lock.stages = Object.fromEntries(Object.entries(stages).sort(([a], [b]) => (a < b ? -1 : 1)));
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(lock, null, 2)}\n`);
  renameSync(tmp, path);
  return path;
}
