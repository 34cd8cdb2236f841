import type { OptionsOf } from '../table/define.js';
import type { auditTimestampSet } from './commands.js';
import { readFileSync } from 'node:fs';
import { CairnError } from '../../core/errors.js';
import { commandContext, withServices } from '../context.js';

export async function run(url: string, opts: OptionsOf<typeof auditTimestampSet>): Promise<void> {
  const ctx = commandContext(opts);
  let ca: string | null = null;
  if (opts.ca) {
    try {
      ca = readFileSync(opts.ca, 'utf8');
    } catch (err) {
      throw new CairnError('IO_ERROR', `cannot read ${opts.ca}: ${(err as Error).message}`);
    }
  }
  const r = await withServices(opts, 'audit timestamp set', (s) => s.audit.setTimestampAuthority(url, ca));
  ctx.out.result(r);
  ctx.out.say(
    `checkpoints get RFC 3161 tokens from ${url}${ca ? `, verified against ${opts.ca}` : ' (no --ca: kept unverified)'}`,
  );
}
