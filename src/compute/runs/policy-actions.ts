import { canonicalJson } from '../../core/canonical-json.js';
import type { PolicyAction } from '../backends/port.js';
import type { RunDeps } from './deps.js';
import type { Reason, RunRow } from './store.js';

const POLICY_REASON = { flag: 'IDLE_FLAG', checkpoint: 'IDLE_CHECKPOINT', stop: 'IDLE_STOP' } as const;
const POLICY_WORDS = {
  flag: 'flagged the run',
  checkpoint: 'signalled the job to checkpoint (SIGUSR1)',
  stop: 'stopped the run',
} as const;

/** The reason a policy action gives a run: its code, the policy and the samples that triggered it. */
export function policyReason(p: PolicyAction): Reason {
  return {
    code: POLICY_REASON[p.action],
    message: `the idle-GPU policy ${POLICY_WORDS[p.action]}: ${p.detail}`,
    at: p.t,
    policy: p.policy,
    samples: p.samples,
  };
}

/**
 * Records the idle-policy actions a run's backend took that the run does not have yet, each
 * as a `run.policy` event in the transaction that adds it to the run's usage (the actions
 * recorded so far live there, so none is recorded twice). While the job runs the latest one
 * is also the run's reason, so `run why` and `run show` say it before the run ends.
 */
export async function recordPolicy(
  deps: RunDeps,
  run: RunRow,
  actions: readonly PolicyAction[],
  opts: { setReason: boolean },
): Promise<void> {
  const usage = JSON.parse(run.usage) as { policy?: PolicyAction[] };
  for (let i = usage.policy?.length ?? 0; i < actions.length; i++) {
    const p = actions[i]!;
    const next = canonicalJson({ ...usage, policy: actions.slice(0, i + 1) });
    await deps.audit.audited(
      {
        action: 'run.policy',
        target: { type: 'run', name: run.id },
        params: { action: p.action, detail: p.detail, at: p.t, policy: p.policy, samples: p.samples },
      },
      async (commit) => {
        await commit(async (tx) => {
          await tx.db
            .updateTable('runs')
            .set({ usage: next, ...(opts.setReason ? { reason: canonicalJson(policyReason(p)) } : {}) })
            .where('id', '=', run.id)
            .execute();
        });
      },
    );
  }
}
