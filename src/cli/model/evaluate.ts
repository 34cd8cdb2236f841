import type { OptionsOf } from '../table/define.js';
import type { modelEvaluate } from './commands.js';
import { writeFileSync } from 'node:fs';
import { CairnError } from '../../core/errors.js';
import { evaluationHtml, evaluationJUnit } from '../../models/index.js';
import { commandContext, withServices } from '../context.js';

export async function run(ref: string, opts: OptionsOf<typeof modelEvaluate>): Promise<void> {
  const ctx = commandContext(opts);
  const bar = ctx.progress(`evaluating ${ref}`, 'items');
  const r = await withServices(opts, 'model evaluate', (s) =>
    s.models.evaluate(ref, {
      suitePath: opts.suite,
      data: opts.data,
      onProgress: (done, total, note) => bar.update(done, total, note),
    }),
  ).finally(() => bar.done());
  if (opts.junit) writeFileSync(opts.junit, evaluationJUnit(r));
  if (opts.html) writeFileSync(opts.html, evaluationHtml(r));
  for (const c of r.checks) ctx.out.say(`${c.passed ? 'passed' : 'FAILED'}  ${c.name}: ${c.message}`);
  // With --json stdout holds one document: the report, or the error carrying it.
  if (!r.passed)
    throw new CairnError(
      'CHECK_FAILED',
      `${r.model} failed ${r.checks.filter((c) => !c.passed).length} of ${r.checks.length} check(s) of ${r.suite}`,
      { data: { report: r } },
    );
  ctx.out.result(r);
  ctx.out.say(`${r.model} passed ${r.suite} on ${r.data} (${r.rows} rows); the verdict is stored with the version`);
}
