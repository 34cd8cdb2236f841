import type { CommandContext } from '../context.js';
import {
  describeUnvouched,
  describeUnvouchedModel,
  describeUnvouchedRun,
  type UnvouchedModelVersion,
  type UnvouchedRun,
  type UnvouchedVersion,
} from '../../transfer/index.js';

/** Names, on stderr, each version a pull or clone refused because no verified log vouches for it. */
export function warnUnvouched(ctx: CommandContext, remote: string, skipped: readonly UnvouchedVersion[]): void {
  if (!skipped.length) return;
  ctx.out.note(
    `cairn: warning: ${skipped.length} version(s) on ${remote} are vouched for by no verified audit log and were not imported:`,
  );
  for (const s of skipped.slice(0, 20)) ctx.out.note(`  ${describeUnvouched(s)}`);
  if (skipped.length > 20) ctx.out.note(`  … and ${skipped.length - 20} more (see --json)`);
}

/** Names, on stderr, each model version a pull refused (no verified event registers exactly it). */
export function warnUnvouchedModels(
  ctx: CommandContext,
  remote: string,
  skipped: readonly UnvouchedModelVersion[],
): void {
  if (!skipped.length) return;
  ctx.out.note(
    `cairn: warning: ${skipped.length} model version(s) on ${remote} are registered by no verified audit log event and were not imported:`,
  );
  for (const s of skipped.slice(0, 20)) ctx.out.note(`  ${describeUnvouchedModel(s)}`);
  if (skipped.length > 20) ctx.out.note(`  … and ${skipped.length - 20} more (see --json)`);
}

/** Names, on stderr, each run a pull refused (no verified event vouches for exactly it, or its versions are missing). */
export function warnUnvouchedRuns(ctx: CommandContext, remote: string, skipped: readonly UnvouchedRun[]): void {
  if (!skipped.length) return;
  ctx.out.note(`cairn: warning: ${skipped.length} run(s) on ${remote} were not imported:`);
  for (const s of skipped.slice(0, 20)) ctx.out.note(`  ${describeUnvouchedRun(s)}`);
  if (skipped.length > 20) ctx.out.note(`  … and ${skipped.length - 20} more (see --json)`);
}
