import type { OptionsOf } from '../table/define.js';
import type { auditVerifyProof } from './commands.js';
import { readFileSync } from 'node:fs';
import { offlineAudit } from '../../audit/index.js';
import { CairnError } from '../../core/errors.js';
import { commandContext } from '../context.js';

export async function run(file: string, opts: OptionsOf<typeof auditVerifyProof>): Promise<void> {
  const ctx = commandContext(opts);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CairnError('IO_ERROR', `cannot read ${file}: ${(err as Error).message}`);
  }
  const r = offlineAudit.verifyProof(text, opts.key ? offlineAudit.loadVerifierKey(opts.key) : undefined);
  if (!r.ok)
    throw new CairnError('CHECK_FAILED', `proof does not verify: ${r.problems.join('; ')}`, { data: { report: r } });
  ctx.out.result(r);
  ctx.out.say(
    `ok: entry ${r.index} is in log ${r.origin} at size ${r.treeSize}${r.keyTrusted ? '' : ' (checked against the key named in the file; pass --key to pin a trusted key)'}`,
  );
}
