import type { OptionsOf } from '../table/define.js';
import type { modelShow } from './commands.js';
import { commandContext, withServices } from '../context.js';

interface StoredCheck {
  name: string;
  passed: boolean;
  message: string;
}

/** The checks a stored gate report holds, tolerating reports written before checks were kept. */
function checksOf(report: unknown): StoredCheck[] {
  const checks = (report as { checks?: unknown } | null)?.checks;
  if (!Array.isArray(checks)) return [];
  return checks.filter(
    (c): c is StoredCheck =>
      typeof c === 'object' && c !== null && typeof c.name === 'string' && typeof c.message === 'string',
  );
}

export async function run(ref: string, opts: OptionsOf<typeof modelShow>): Promise<void> {
  const ctx = commandContext(opts);
  const { r, reports } = await withServices(opts, 'model show', async (s) => {
    const r = await s.models.show(ref);
    // A failed gate is only useful with its reasons, so those reports are read too.
    const reports = r.evaluations.some((e) => !e.passed) ? await s.models.evaluations(ref) : [];
    return { r, reports };
  });
  ctx.out.result(r);
  ctx.out.say(
    `${r.ref}  ${r.digest}  ${r.format}${r.aliases.length ? `  [${r.aliases.join(', ')}]` : ''}\n  registered ${r.created} by ${r.by}${r.run ? `, trained by run ${r.run}` : ''}`,
  );
  for (const [k, v] of Object.entries(r.metrics)) ctx.out.say(`  metric ${k} = ${v}`);
  for (const e of r.evaluations) {
    const from = e.imported ? `, imported from ${e.imported.origin}: run by ${e.imported.author} there` : '';
    ctx.out.say(`  evaluation ${e.suite}: ${e.passed ? 'passed' : 'FAILED'} (${e.at}, by ${e.by}${from})`);
    if (e.passed) continue;
    const stored = reports.find((x) => x.suite === e.suite && x.at === e.at);
    const failed = checksOf(stored?.report).filter((c) => !c.passed);
    const total = checksOf(stored?.report).length;
    if (failed.length) ctx.out.say(`    ${failed.length} of ${total} check(s) failed:`);
    for (const c of failed) ctx.out.say(`    ✗ ${c.name}: ${c.message}`);
  }
  for (const a of r.approvals) ctx.out.say(`  approved for ${a.alias} by ${a.approver} (${a.at})`);
}
