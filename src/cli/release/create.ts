import type { OptionsOf } from '../table/define.js';
import type { releaseCreate } from './commands.js';
import { commandContext, withServices } from '../context.js';

export async function run(ref: string, opts: OptionsOf<typeof releaseCreate>): Promise<void> {
  const ctx = commandContext(opts);
  const r = await withServices(opts, 'release create', (s) => s.releases.create(ref, opts.out));
  ctx.out.result(r);
  ctx.out.say(
    `released ${r.model} (${r.digest}) into ${r.dir}: ${r.files} file(s), ${r.proofs} audit proof(s), signed by key ${r.keyid}\nverify anywhere: cairn release verify ${r.dir} --key <trusted public key PEM>`,
  );
}
