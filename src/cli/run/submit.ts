import type { OptionsOf } from '../table/define.js';
import type { runSubmit } from './commands.js';
import type { RunLabel } from '../../compute/index.js';
import { CairnError } from '../../core/errors.js';
import { commandContext, withServices } from '../context.js';
import { describeRun } from './show.js';

const FAILED = ['failed', 'cancelled', 'timeout', 'node_fail', 'refused'];
/** Lines of stderr a failed run shows. */
const TAIL_LINES = 20;

/** `--name`, `--tag k=v` (repeatable) and `--note` as the run's label. */
export function labelOf(opts: { name?: string | undefined; tag: string[]; note?: string | undefined }): RunLabel {
  const tags: Record<string, string> = {};
  for (const t of opts.tag) {
    const eq = t.indexOf('=');
    if (eq < 1) throw new CairnError('USAGE', `--tag takes key=value, not ${JSON.stringify(t)}`);
    tags[t.slice(0, eq)] = t.slice(eq + 1);
  }
  return {
    ...(opts.name !== undefined ? { name: opts.name } : {}),
    ...(opts.tag.length ? { tags } : {}),
    ...(opts.note !== undefined ? { note: opts.note } : {}),
  };
}

export async function run(spec: string | undefined, opts: OptionsOf<typeof runSubmit>): Promise<void> {
  const ctx = commandContext(opts);
  // The job's stdout and stderr go to ours as it writes them (not with --json: stdout holds one document).
  const stream = !ctx.json && !opts.quiet;
  const result = await withServices(opts, 'run', async (s) => {
    const submitted = await s.runs.submit({
      spec: spec ?? 'cairn.yaml',
      sets: opts.set,
      ...(opts.backend ? { backend: opts.backend } : {}),
      force: opts.force === true,
      label: labelOf(opts),
    });
    const r = submitted.run;
    let details;
    if (submitted.outcome === 'reused') {
      if (!ctx.json)
        ctx.out.say(
          `cache hit: run ${r.reusedFrom} had the same run key ${submitted.runKey.slice(0, 12)}…; its results are reused (--force runs it again)`,
        );
      details = await s.runs.details(r.id);
    } else if (!opts.detach) {
      if (!ctx.json)
        ctx.out.say(
          `run ${r.humanName} (${r.id}, spec ${r.name}) ${submitted.outcome === 'queued' ? 'queued' : 'submitted'} on ${r.backend}; waiting (Ctrl-C leaves it running; --detach to return at once)`,
        );
      let last = '';
      details = await s.runs.wait(r.id, {
        onTick: (t) => {
          const line = `${t.status}${t.reason ? `: ${(t.reason as { message: string }).message}` : ''}`;
          if (line !== last && !ctx.json) process.stderr.write(`  [${line}]\n`);
          last = line;
        },
        ...(stream
          ? {
              onOutput: (chunk: Buffer, s: 'stdout' | 'stderr') =>
                (s === 'stdout' ? process.stdout : process.stderr).write(chunk),
            }
          : {}),
      });
    } else details = await s.runs.details(r.id);
    const stderrTail = FAILED.includes(details.status)
      ? await s.runs.tail(r.id, { stream: 'stderr', lines: TAIL_LINES })
      : '';
    return { details, status: details.status, stderrTail };
  });
  if (!ctx.json) ctx.out.say(describeRun(result.details));
  // With --json stdout holds one document: the run, or the error carrying it.
  if (FAILED.includes(result.status)) {
    if (!ctx.json && result.stderrTail)
      process.stderr.write(
        `--- last lines of the run's stderr (cairn run logs --stderr ${result.details.humanName ?? result.details.id}) ---\n${result.stderrTail}\n---\n`,
      );
    throw new CairnError(
      'RUN_FAILED',
      `run ${result.details.humanName ?? result.details.id} ${result.status}: ${(result.details.reason as { message?: string } | null)?.message ?? ''}`,
      {
        data: { run: result.details.id, status: result.status, details: result.details, stderrTail: result.stderrTail },
      },
    );
  }
  ctx.out.result({ ...result.details, outcome: result.status });
}
