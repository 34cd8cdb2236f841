import type { OptionsOf } from '../table/define.js';
import type { auditCheckpoint } from './commands.js';
import { writeFileSync } from 'node:fs';
import { commandContext, withServices } from '../context.js';

export async function run(opts: OptionsOf<typeof auditCheckpoint>): Promise<void> {
  const ctx = commandContext(opts);
  const r = await withServices(opts, 'audit checkpoint', (s) => s.audit.checkpoint());
  if (opts.out) writeFileSync(opts.out, r.note);
  ctx.out.result({ ...r, file: opts.out ?? null });
  ctx.out.say(r.note.trimEnd());
  ctx.out.say('');
  ctx.out.say(
    `${r.created ? 'signed a new checkpoint' : 'latest checkpoint (the log has not grown since)'} at size ${r.size}${opts.out ? `; written to ${opts.out}` : ''}`,
  );
  ctx.out.say(`verifier key: ${r.verifierKey}`);
  if (opts.out) ctx.out.say(`later: cairn audit verify --against ${opts.out} --key '${r.verifierKey}'`);
}
