import type { OptionsOf } from '../table/define.js';
import type { dossier } from './commands.js';
import { commandContext, withServices } from '../context.js';

export async function run(ref: string, opts: OptionsOf<typeof dossier>): Promise<void> {
  const ctx = commandContext(opts);
  const r = await withServices(opts, 'dossier', (s) => s.compliance.dossier(ref, opts.out));
  ctx.out.result(r);
  ctx.out.say(
    `wrote the Annex IV dossier of ${r.model} (${r.digest}) into ${r.dir}: ${r.statements} statement(s) backed by ${r.proofs} inclusion proof(s), ${r.gaps} gap(s) listed — open dossier.html or dossier.md`,
  );
}
