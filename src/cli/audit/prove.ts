import type { OptionsOf } from '../table/define.js';
import type { auditProve } from './commands.js';
import { writeFileSync } from 'node:fs';
import { PROOF_FORMAT } from '../../audit/index.js';
import { CairnError } from '../../core/errors.js';
import { commandContext, withServices } from '../context.js';

export async function run(index: string, opts: OptionsOf<typeof auditProve>): Promise<void> {
  const ctx = commandContext(opts);
  const n = Number(index);
  if (!Number.isInteger(n) || n < 0)
    throw new CairnError('USAGE', `event index must be a whole number, got ${JSON.stringify(index)}`);
  const p = await withServices(opts, 'audit prove', (s) => s.audit.prove(n));
  const doc = { format: PROOF_FORMAT, ...p };
  if (opts.out) {
    writeFileSync(opts.out, `${JSON.stringify(doc, null, 2)}\n`);
    ctx.out.say(`wrote inclusion proof of entry ${n} in the checkpoint of size ${p.treeSize} to ${opts.out}`);
    ctx.out.say(`check it anywhere with: cairn audit verify-proof ${opts.out} --key '${p.verifierKey}'`);
    ctx.out.result({ file: opts.out, ...doc });
  } else if (ctx.json) {
    ctx.out.result(doc);
  } else {
    process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
  }
}
