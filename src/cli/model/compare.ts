import type { OptionsOf } from '../table/define.js';
import type { modelCompare } from './commands.js';
import { readEvalSuite } from '../../models/index.js';
import { commandContext, withServices } from '../context.js';

export async function run(refs: string[], opts: OptionsOf<typeof modelCompare>): Promise<void> {
  const ctx = commandContext(opts);
  const { suite } = readEvalSuite(opts.suite);
  const r = await withServices(opts, 'model compare', (s) =>
    s.models.compare(refs, { suite, data: opts.data, metrics: opts.metric }),
  );
  ctx.out.result(r);
  ctx.out.say(`${'metric'.padEnd(16)}${r.models.map((m) => ` ${m.padStart(36)}`).join('')}`);
  for (const row of r.rows)
    ctx.out.say(
      `${row.metric.padEnd(16)}${row.values.map((v, i) => ` ${`${v.toFixed(4)}${i ? ` (${row.deltas[i]!.value >= 0 ? '+' : ''}${row.deltas[i]!.value.toFixed(4)} [${row.deltas[i]!.lo.toFixed(4)}, ${row.deltas[i]!.hi.toFixed(4)}])` : ''}`.padStart(36)}`).join('')}`,
    );
}
