import type { OptionsOf } from '../table/define.js';
import type { dataValidate } from './prep-commands.js';
import { CairnError } from '../../core/errors.js';
import { commandContext, withServices } from '../context.js';
import { table } from '../format.js';

export async function run(ref: string, opts: OptionsOf<typeof dataValidate>): Promise<void> {
  const ctx = commandContext(opts);
  const r = await withServices(opts, 'data validate', (s) =>
    s.dataprep.validate(ref, {
      suitePath: opts.suite,
      ...(opts.junit ? { junit: opts.junit } : {}),
      ...(opts.html ? { html: opts.html } : {}),
      ...(opts.file ? { file: opts.file } : {}),
      ...(opts.profile ? { profile: true } : {}),
    }),
  );
  ctx.out.say(
    `${r.target}: suite ${r.suite}, ${r.checks.length} checks over ${r.size} ${r.kind === 'table' ? 'rows' : 'files'}`,
  );
  ctx.out.say(
    table(
      r.checks.map((c) => [
        c.status === 'passed' ? 'ok' : c.severity === 'warn' ? 'WARN' : 'FAIL',
        c.name,
        `${c.failed}/${c.evaluated}`,
        `${c.percent.toFixed(2)}%`,
        c.message,
      ]),
      ['', 'CHECK', 'FAILED', '%', ''],
    ),
  );
  for (const c of r.checks.filter((x) => x.status !== 'passed' && x.sample.length)) {
    ctx.out.say(`  ${c.name} (line ${c.line}), e.g.: ${JSON.stringify(c.sample.slice(0, 3))}`);
  }
  if (!r.ok) {
    throw new CairnError('CHECK_FAILED', `${r.errors} error-severity check(s) failed on ${r.target}`, {
      data: { report: r },
      hint: 'fix the data (cairn data clean) or the suite; the report is stored with the version',
    });
  }
  ctx.out.result(r);
  ctx.out.say(`ok: ${r.checks.length - r.warnings} passed${r.warnings ? `, ${r.warnings} warning(s)` : ''}`);
}
