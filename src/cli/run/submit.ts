import type { OptionsOf } from '../table/define.js';
import type { runSubmit } from './commands.js';
import { CairnError } from '../../core/errors.js';
import { commandContext, withServices } from '../context.js';
import { describeRun } from './show.js';

export async function run(spec: string | undefined, opts: OptionsOf<typeof runSubmit>): Promise<void> {
  const ctx = commandContext(opts);
  const result = await withServices(opts, 'run', async (s) => {
    const submitted = await s.runs.submit({
      spec: spec ?? 'cairn.yaml',
      sets: opts.set,
      ...(opts.backend ? { backend: opts.backend } : {}),
      force: opts.force === true,
    });
    const r = submitted.run;
    if (submitted.outcome === 'reused') {
      if (!ctx.json)
        ctx.out.say(
          `cache hit: run ${r.reusedFrom} had the same run key ${submitted.runKey.slice(0, 12)}…; its results are reused (--force runs it again)`,
        );
    } else if (!opts.detach) {
      if (!ctx.json)
        ctx.out.say(
          `run ${r.id} (${r.name}) ${submitted.outcome === 'queued' ? 'queued' : 'submitted'} on ${r.backend}; waiting (Ctrl-C leaves it running; --detach to return at once)`,
        );
      let last = '';
      const details = await s.runs.wait(r.id, {
        onTick: (t) => {
          const line = `${t.status}${t.reason ? `: ${(t.reason as { message: string }).message}` : ''}`;
          if (line !== last && !ctx.json) process.stderr.write(`  ${line}\n`);
          last = line;
        },
      });
      return { details, status: details.status };
    }
    return { details: await s.runs.details(r.id), status: r.status };
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
