import { canonicalJson } from '../../../core/canonical-json.js';
import {
  approvalKey,
  committed,
  hex,
  parseVersionRef,
  str,
  type EventFields,
  type LoggedEvent,
} from './event-fields.js';
import type { AliasTarget, DeploymentState, EvaluationState, ExpectedState } from './expected-state.js';

/** How model events fold into the expected state: versions, aliases, approvals, policies, evaluations, releases. */
export function applyModelEvent(s: ExpectedState, f: EventFields, e: LoggedEvent): void {
  const { index, action, ok, p, name, number, digest, actor } = f;
  const alias = str(p.alias);
  switch (action) {
    case 'model.register':
      if (ok && name && number !== null && digest) {
        const run = 'run' in p ? (str(p.run) ?? null) : undefined;
        const value = { digest, author: actor, run, format: str(p.format) ?? undefined };
        s.modelVersions.set(`${name}@v${number}`, { index, action, value });
      }
      break;
    case 'model.promote':
      if (ok && name && alias && number !== null)
        s.moveAlias(`${name}@${alias}`, { index, action, value: moveTo(number, digest) });
      break;
    case 'model.rollback':
      // Rollbacks name the version they moved to by number and digest; older ones only by
      // the version's row id (params.to), which is what they can be checked on.
      if (!ok || !name || !alias) break;
      if (number !== null) s.moveAlias(`${name}@${alias}`, { index, action, value: moveTo(number, digest) });
      else if (str(p.to))
        s.moveAlias(`${name}@${alias}`, { index, action, value: { removed: false, versionId: str(p.to)! } });
      break;
    case 'model.alias.remove':
      if (ok && name && alias) s.moveAlias(`${name}@${alias}`, { index, action, value: { removed: true } });
      break;
    case 'model.approve': {
      const approver = str(p.approver) ?? actor;
      if (ok && name && number !== null && alias && approver) {
        const k = approvalKey(name, number, alias, approver);
        s.approvals.set(k, [...(s.approvals.get(k) ?? []), index]);
      }
      break;
    }
    case 'model.policy.set': {
      if (!ok || !name || !alias) break;
      const { alias: _alias, ...policy } = p;
      s.policies.set(`${name}@${alias}`, { index, action, value: canonicalJson(policy) });
      break;
    }
    case 'model.evaluate':
      applyEvaluate(s, f, e);
      break;
    case 'model.release':
      if (ok && name && number !== null) {
        const k = `${name}@v${number}`;
        const release = { index, keyid: str(p.keyid), release: str(p.release) };
        s.releases.set(k, [...(s.releases.get(k) ?? []), release]);
      }
      break;
  }
}

function applyEvaluate(s: ExpectedState, f: EventFields, e: LoggedEvent): void {
  const { index, action, p, name, number } = f;
  const report = hex(p.report);
  if (!committed(e) || !name || !report) return;
  const value: EvaluationState = {
    model: name,
    number,
    suite: str(p.suite),
    suiteDigest: hex(p.suiteDigest),
    passed: typeof p.passed === 'boolean' ? p.passed : null,
  };
  s.evaluations.set(report, { index, action, value });
}

export function applyDeployEvent(s: ExpectedState, f: EventFields, e: LoggedEvent): void {
  const { index, p } = f;
  const id = str(p.deployment);
  const status = str(p.status);
  if (id && f.name && status === 'pending' && e.outcome === 'ok') {
    const value: DeploymentState = {
      model: f.name,
      number: f.number,
      digest: f.digest,
      env: str(p.env),
      alias: str(p.alias),
      by: f.actor,
      status,
      statusIndex: index,
    };
    s.deployments.set(id, { index, action: 'model.deploy', value });
  } else if (id && status && status !== 'pending') {
    const d = s.deployments.get(id);
    if (d) {
      d.value.status = status;
      d.value.statusIndex = index;
    }
  }
  const move = p.aliasMove as { alias?: unknown; to?: unknown } | undefined;
  const to = parseVersionRef(move?.to);
  if (move && str(move.alias) && to)
    s.moveAlias(`${to.name}@${str(move.alias)}`, {
      index,
      action: 'model.deploy',
      value: { removed: false, number: to.number },
    });
}

function moveTo(number: number, digest: string | null): AliasTarget {
  return { removed: false, number, ...(digest ? { digest } : {}) };
}
