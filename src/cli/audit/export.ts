import type { OptionsOf } from '../table/define.js';
import type { auditExport } from './commands.js';
import { resolve } from 'node:path';
import { commandContext, withServices } from '../context.js';

export async function run(dir: string, opts: OptionsOf<typeof auditExport>): Promise<void> {
  const ctx = commandContext(opts);
  const target = resolve(dir);
  const r = await withServices(opts, 'audit export', (s) => s.audit.export(target));
  ctx.out.result(r);
  ctx.out.say(`exported ${r.size} entries and ${r.checkpoints} checkpoints to ${r.dir}`);
  ctx.out.say(`verify with: cairn audit verify --bundle ${r.dir}   or: ${r.dir}/verify.sh`);
}
