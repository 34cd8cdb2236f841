import type { OptionsOf } from '../table/define.js';
import type { modelPolicySet } from './commands.js';
import { commandContext, withServices } from '../context.js';

export async function run(name: string, opts: OptionsOf<typeof modelPolicySet>): Promise<void> {
  const ctx = commandContext(opts);
  const p = await withServices(opts, 'model policy set', (s) =>
    s.models.setPolicy(name, opts.alias, {
      suites: opts.requireSuite,
      approvals: opts.approvals,
      separateApprover: opts.allowSelfApproval !== true,
      ...(opts.acceptImportedEvaluations === true ? { acceptImported: true } : {}),
    }),
  );
  ctx.out.result({ model: name, alias: opts.alias, policy: p });
  ctx.out.say(
    `${name}@${opts.alias}: needs ${p.suites.length ? `suites ${p.suites.join(', ')} passed, ` : ''}${p.approvals} approval(s)${p.separateApprover ? ' from someone other than the authors' : ''}${p.suites.length ? (p.acceptImported ? '; imported evaluations count' : '; only evaluations run here count') : ''}`,
  );
}
