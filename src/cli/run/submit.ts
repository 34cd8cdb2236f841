import type { OptionsOf } from '../table/define.js';
import type { runSubmit } from './commands.js';
import { CairnError } from '../../core/errors.js';
import { prepareRun } from '../../compute/runs/prepare.js';
import { runDetails } from '../../compute/runs/queries.js';
import { submitRun, waitRun, type RunRow } from '../../compute/runs/service.js';
import { commandContext, withWorkspace } from '../context.js';
import { describeRun } from './show.js';

export async function run(spec: string | undefined, opts: OptionsOf<typeof runSubmit>): Promise<void> {
  const ctx = commandContext(opts);
  const result = await withWorkspace(opts, 'run', async (ws) => {
    const prepared = await prepareRun(ws, spec ?? 'cairn.yaml', {
      sets: opts.set,
      ...(opts.backend ? { backend: opts.backend } : {}),
    });
    const submitted = await submitRun(ws, prepared, { force: opts.force === true });
    let final: RunRow = submitted.run;
    if (submitted.outcome === 'reused') {
      if (!ctx.json)
        ctx.out.say(
          `cache hit: run ${submitted.run.reused_from} had the same run key ${prepared.key.slice(0, 12)}…; its results are reused (--force runs it again)`,
        );
    } else if (!opts.detach) {
      if (!ctx.json)
        ctx.out.say(
          `run ${final.id} (${final.name}) ${submitted.outcome === 'queued' ? 'queued' : 'submitted'} on ${final.backend}; waiting (Ctrl-C leaves it running; --detach to return at once)`,
        );
      let last = '';
      final = await waitRun(ws, final.id, {
        onTick: (r) => {
          const line = `${r.status}${r.reason ? `: ${(JSON.parse(r.reason) as { message: string }).message}` : ''}`;
          if (line !== last && !ctx.json) process.stderr.write(`  ${line}\n`);
          last = line;
        },
      });
    }
    return { details: await runDetails(ws, final), status: final.status };
  });
  if (!ctx.json) ctx.out.say(describeRun(result.details));
  // With --json stdout holds one document: the run, or the error carrying it.
  if (['failed', 'cancelled', 'timeout', 'node_fail', 'refused'].includes(result.status)) {
    throw new CairnError(
      'RUN_FAILED',
      `run ${result.details.id} ${result.status}: ${(result.details.reason as { message?: string } | null)?.message ?? ''}`,
      { data: { run: result.details.id, status: result.status, details: result.details } },
    );
  }
  ctx.out.result({ ...result.details, outcome: result.status });
}
