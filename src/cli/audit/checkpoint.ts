import type { OptionsOf } from '../table/define.js';
import type { auditCheckpoint } from './commands.js';
import { writeFileSync } from 'node:fs';
import { formatVerifierKey } from '../../audit/note/index.js';
import { CairnError } from '../../core/errors.js';
import { commandContext, withWorkspace } from '../context.js';

export async function run(opts: OptionsOf<typeof auditCheckpoint>): Promise<void> {
  const ctx = commandContext(opts);
  const r = await withWorkspace(opts, 'audit checkpoint', async (ws) => {
    const made = await ws.audit.checkpoint();
    const cp = made ?? (await ws.audit.latestCheckpoint());
    if (!cp) throw new CairnError('NOT_FOUND', 'the audit log is empty');
    return {
      ...cp,
      created: made !== null,
      verifierKey: formatVerifierKey(ws.config.audit.origin, ws.audit.keys.rawPublicKey),
    };
  });
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
