import type { OptionsOf } from '../table/define.js';
import type { dataClean } from './prep-commands.js';
import { commandContext, withServices } from '../context.js';

export async function run(ref: string, opts: OptionsOf<typeof dataClean>): Promise<void> {
  const ctx = commandContext(opts);
  const r = await withServices(opts, 'data clean', (s) =>
    s.dataprep.clean(ref, {
      recipePath: opts.recipe,
      name: opts.name,
      ...(opts.message ? { message: opts.message } : {}),
      ...(opts.file ? { file: opts.file } : {}),
      format: opts.format,
    }),
  );
  ctx.out.result(r);
  ctx.out.say(
    `${r.ref}  ${r.digest}\n  cleaned from ${r.from} with recipe ${r.recipe} (${r.recipeDigest.slice(0, 19)})`,
  );
  const rep = r.report as {
    steps?: Array<{
      kind: string;
      line?: number;
      rowsIn?: number;
      rowsOut?: number;
      filesIn?: number;
      filesOut?: number;
      details?: Record<string, unknown>;
    }>;
  };
  for (const s of rep.steps ?? []) {
    const inn = s.rowsIn ?? s.filesIn;
    const out = s.rowsOut ?? s.filesOut;
    const extra = s.details
      ? Object.entries(s.details)
          .map(([k, v]) => `${k} ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
          .join(', ')
      : '';
    ctx.out.say(`  ${s.kind.padEnd(16)} ${String(inn).padStart(9)} -> ${String(out).padEnd(9)} ${extra}`);
  }
}
