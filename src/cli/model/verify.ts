import type { OptionsOf } from '../table/define.js';
import type { modelVerify } from './commands.js';
import { CairnError } from '../../core/errors.js';
import { commandContext, withServices } from '../context.js';

export async function run(ref: string, opts: OptionsOf<typeof modelVerify>): Promise<void> {
  const ctx = commandContext(opts);
  const r = await withServices(opts, 'model verify', (s) => s.models.verify(ref));
  if (r.stateProblems.length) {
    throw new CairnError(
      'STATE_MISMATCH',
      `${r.ref} is not what the audit log says was registered: ${r.stateProblems.join('; ')}`,
      {
        data: { report: r },
        hint: 'run `cairn audit verify` to see every row that differs from the log, and restore the metadata from a backup',
      },
    );
  }
  if (!r.ok)
    throw new CairnError(
      'CORRUPT_OBJECT',
      `${r.ref} does not verify: ${r.problems.map((p) => `${p.path}: ${p.problem}`).join('; ')}`,
      { data: { report: r } },
    );
  ctx.out.result(r);
  ctx.out.say(
    `ok: ${r.ref} ${r.digest}: ${r.files} file(s), every byte re-hashed; the digest is the one entry ${r.registeredAt} (model.register) logged`,
  );
}
