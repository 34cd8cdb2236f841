import { describe, expect, it } from 'vitest';
import type { ModelRow, ModelVersionRow } from '../registry.js';
import type { EnvConfig } from './config.js';
import { attemptError, planAdmission, planRecovery, rollbackOutcome, type AdmissionFacts } from './plan.js';
import type { HookResult } from './types.js';

const model = { id: 'm1', name: 'spam', created_at: '2026-01-01T00:00:00Z', created_by: 'alice' } as ModelRow;
const version = { id: 'v2', model_id: 'm1', number: 2, digest: 'ab'.repeat(32) } as ModelVersionRow;
const commandEnv: EnvConfig = {
  hook: { command: './deploy.sh' },
  health: null,
  timeoutS: 30,
  alias: 'production',
  onFailure: 'rollback',
};
const webhookEnv: EnvConfig = {
  hook: { webhook: { url: 'https://deploy.example.com/hook?token=x', secretEnv: 'S' } },
  health: null,
  timeoutS: 10,
  alias: null,
  onFailure: 'keep',
};
const facts = (over: Partial<AdmissionFacts> = {}): AdmissionFacts => ({
  ref: 'spam@v2',
  model,
  version,
  env: 'production',
  cfg: commandEnv,
  stateProblems: [],
  registeredAt: 3,
  unmet: [],
  previous: 'v1',
  secret: null,
  actor: 'bob',
  now: new Date('2026-02-01T12:00:00Z'),
  ids: { deployment: 'd1', delivery: 'o1' },
  ...over,
});

// The deploy planner decides from facts alone: no database, hooks or network.
describe('deploy planner', () => {
  it('refuses a version the log did not register, or that the served alias policy refuses, before anything runs', () => {
    const state = planAdmission(facts({ stateProblems: ['digest differs'] }));
    expect(state).toMatchObject({ kind: 'refuse', outcome: 'failed', error: { code: 'STATE_MISMATCH' } });
    const policy = planAdmission(facts({ unmet: ['1 approval(s) for production needed; 0 given'] }));
    expect(policy).toMatchObject({
      kind: 'refuse',
      outcome: 'denied',
      reason: 'POLICY_UNMET: 1 approval(s) for production needed; 0 given',
      draft: { params: { env: 'production', alias: 'production', status: 'refused' } },
    });
  });

  it('starts a pending deployment; a webhook gets a signed outbox row in the same plan', () => {
    const cmd = planAdmission(facts());
    expect(cmd).toMatchObject({
      kind: 'start',
      row: {
        id: 'd1',
        status: 'pending',
        previous_version_id: 'v1',
        by: 'bob',
        started_at: '2026-02-01T12:00:00.000Z',
      },
      outbox: null,
      staleBefore: '2026-02-01T11:53:00.000Z',
      draft: { params: { deployment: 'd1', status: 'pending', hook: 'command' } },
    });
    const hook = planAdmission(facts({ cfg: webhookEnv, secret: 's3cret', env: 'staging' }));
    if (hook.kind !== 'start') throw new Error('expected a start');
    expect(hook.outbox).toMatchObject({ id: 'o1', deployment_id: 'd1', attempts: 0 });
    expect(JSON.parse(hook.outbox!.body)).toEqual({
      action: 'deploy',
      deployment: 'd1',
      digest: `sha256:${'ab'.repeat(32)}`,
      env: 'staging',
      model: 'spam',
      ref: 'spam@v2',
      version: 2,
    });
    expect(hook.outbox!.signature).toMatch(/^sha256=[0-9a-f]{64}$/);
  });

  it('decides what follows a failed attempt from the policy, the previous version and the secret', () => {
    expect(planRecovery(webhookEnv, 'v1', 's')).toEqual({ kind: 'keep' });
    expect(planRecovery(commandEnv, null, null)).toEqual({ kind: 'no-previous' });
    expect(planRecovery(commandEnv, 'v1', null)).toEqual({ kind: 'command' });
    const rollbackHook = { ...webhookEnv, onFailure: 'rollback' as const };
    expect(planRecovery(rollbackHook, 'v1', null)).toEqual({ kind: 'no-secret' });
    expect(planRecovery(rollbackHook, 'v1', 's')).toEqual({ kind: 'webhook' });
  });

  it('names why an attempt or its rollback failed', () => {
    const failed: HookResult = { kind: 'command', ok: false, exitCode: 3, signal: null, timedOut: false, log: 'l' };
    const ok: HookResult = { ...failed, ok: true, exitCode: 0 };
    expect(attemptError(failed, { kind: 'skipped', ok: false, why: 'the hook failed' }, 30)).toBe(
      'the deploy hook exited with status 3',
    );
    expect(attemptError(ok, { kind: 'none', ok: true }, 30)).toBeNull();
    expect(rollbackOutcome('boom', 'spam@v1', ok, null, 30)).toMatchObject({ status: 'rolled_back', error: 'boom' });
    expect(rollbackOutcome('boom', 'spam@v1', failed, null, 30)).toMatchObject({
      status: 'failed',
      error: 'boom; the rollback to spam@v1 failed too: the deploy hook exited with status 3',
      rollback: { to: 'spam@v1', ok: false },
    });
  });
});
