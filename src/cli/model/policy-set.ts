import { setPolicy } from '../../models/aliases.js';
import { commandContext, withWorkspace, type GlobalOptions } from '../context.js';

export async function run(
  name: string,
  opts: GlobalOptions & { alias: string; requireSuite: string[]; approvals: number; allowSelfApproval?: boolean },
): Promise<void> {
  const ctx = commandContext(opts);
  const p = await withWorkspace(opts, 'model policy set', (ws) =>
    setPolicy(ws, name, opts.alias, {
      suites: opts.requireSuite,
      approvals: opts.approvals,
      separateApprover: opts.allowSelfApproval !== true,
    }),
  );
  ctx.out.result({ model: name, alias: opts.alias, policy: p });
  ctx.out.say(
    `${name}@${opts.alias}: needs ${p.suites.length ? `suites ${p.suites.join(', ')} passed, ` : ''}${p.approvals} approval(s)${p.separateApprover ? ' from someone other than the authors' : ''}`,
  );
}
