import type { OptionsOf } from '../table/define.js';
import type { repro } from './commands.js';
import type { StageResult } from '../../compute/index.js';
import { CairnError } from '../../core/errors.js';
import { commandContext, withServices } from '../context.js';

const line = (r: StageResult) =>
  `${r.stage.padEnd(16)} ${r.status.padEnd(10)} ${r.run ? `${r.run.name ?? r.run.id}` : ''}${r.output ? `  → ${r.output}` : ''}${r.reason ? `  (${r.reason})` : ''}`;

export async function run(stage: string | undefined, opts: OptionsOf<typeof repro>): Promise<void> {
  const ctx = commandContext(opts);
  const result = await withServices(opts, 'repro', (s) =>
    s.runs.repro(opts.file, {
      ...(stage ? { target: stage } : {}),
      force: opts.force === true,
      dryRun: opts.dryRun === true,
      onStage: (r) => {
        if (!ctx.json) process.stderr.write(`  ${line(r)}\n`);
      },
    }),
  );
  const failed = result.stages.filter((r) => r.status === 'failed' || r.status === 'skipped');
  if (!ctx.json) {
    const n = (st: StageResult['status']) => result.stages.filter((r) => r.status === st).length;
    ctx.out.say(
      opts.dryRun
        ? `${n('ran')} stale, ${n('up-to-date')} up to date (dry run: nothing ran)`
        : `${n('ran')} ran, ${n('up-to-date')} up to date, ${n('failed')} failed, ${n('skipped')} skipped${result.lock ? `; pinned in ${result.lock}` : ''}`,
    );
  }
  if (failed.length)
    throw new CairnError(
      'RUN_FAILED',
      `stages failed: ${failed.map((f) => `${f.stage} (${f.reason ?? f.status})`).join('; ')}`,
      {
        data: result as unknown as Record<string, unknown>,
      },
    );
  ctx.out.result(result);
}
