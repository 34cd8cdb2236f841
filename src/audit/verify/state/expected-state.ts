import { canonicalJson } from '../../../core/canonical-json.js';
import { errorCatalogue } from '../../../core/errors.js';

/**
 * What the log says the current state is: folds events, in log order, into the rows they
 * created or last moved. Pure; the reconciler compares the result with the database.
 *
 * Which event vouches for what (docs/AUDIT.md "State bound to the log"):
 * - dataset versions: `dataset.version.create`, `dataset.clean`, `dataset.split`, and the
 *   versions a `remote.pull` / `workspace.clone` lists in `params.imported`;
 * - dataset tags: `dataset.tag` (and `params.importedTags` of an import);
 * - model versions: `model.register`; aliases: `model.promote`, `model.rollback`,
 *   `model.alias.remove` and the `aliasMove` of `model.deploy`; approvals: `model.approve`;
 *   policies: `model.policy.set`; evaluations: `model.evaluate`; deployments: `model.deploy`;
 *   releases: `model.release`; runs: `run.submit` / `run.reuse` and the event that ended them.
 */

/** An event as parsed from the log; nothing in it is trusted to have any particular shape. */
export interface LoggedEvent {
  index?: unknown;
  action?: unknown;
  actor?: { id?: unknown } | null;
  target?: { type?: unknown; name?: unknown; version?: unknown; digest?: unknown } | null;
  inputs?: unknown;
  outputs?: unknown;
  params?: Record<string, unknown> | null;
  outcome?: unknown;
  reason?: unknown;
}

/** The actions whose events vouch for state; the shell parses only these entries fully. */
export const STATE_ACTIONS: ReadonlySet<string> = new Set([
  'dataset.version.create',
  'dataset.clean',
  'dataset.split',
  'dataset.tag',
  'remote.pull',
  'workspace.clone',
  'model.register',
  'model.promote',
  'model.rollback',
  'model.alias.remove',
  'model.approve',
  'model.policy.set',
  'model.evaluate',
  'model.deploy',
  'model.release',
  'run.submit',
  'run.reuse',
  'run.finish',
  'run.fail',
  'run.cancel',
]);

export interface Vouched<T> {
  /** The index of the event that created or last moved the row. */
  index: number;
  action: string;
  value: T;
}

export type AliasTarget = { removed: true } | { removed: false; number?: number; digest?: string; versionId?: string };

export interface RunState {
  runKey: string | null;
  name: string | null;
  project: string | null;
  specDigest: string | null;
  author: string | null;
  reusedFrom: string | null;
  /** Set by the event that ended the run (or refused it), with its index. */
  ended: { status: string; index: number; action: string; outputDigest?: string | null } | null;
}

export interface DeploymentState {
  model: string;
  number: number | null;
  digest: string | null;
  env: string | null;
  alias: string | null;
  by: string | null;
  status: string;
  statusIndex: number;
}

export class ExpectedState {
  readonly datasetVersions = new Map<string, Vouched<{ digest: string; author: string | null }>>();
  readonly datasetTags = new Map<string, Vouched<{ number: number; digest: string | null }>>();
  readonly modelVersions = new Map<
    string,
    Vouched<{ digest: string; author: string | null; run: string | null | undefined; format: string | undefined }>
  >();
  readonly aliases = new Map<string, Vouched<AliasTarget>>();
  /** Every move of each alias, in log order: what its history rows (`model_alias_events`) must say. */
  readonly aliasMoves = new Map<string, Array<Vouched<AliasTarget>>>();
  /** Approval key → the indexes of the events that recorded one (an approval can be given twice). */
  readonly approvals = new Map<string, number[]>();
  readonly policies = new Map<string, Vouched<string>>();
  readonly evaluations = new Map<
    string,
    Vouched<{
      model: string;
      number: number | null;
      suite: string | null;
      suiteDigest: string | null;
      passed: boolean | null;
    }>
  >();
  readonly deployments = new Map<string, Vouched<DeploymentState>>();
  readonly runs = new Map<string, Vouched<RunState>>();
  /** `model@vN` → the release events for it. */
  readonly releases = new Map<string, Array<{ index: number; keyid: string | null; release: string | null }>>();
  /**
   * Imports recorded before events listed what they imported: how many versions each brought
   * in. Rows they imported cannot be told apart from forged ones; the reconciler reports them
   * as unverifiable (not as problems) while their number fits.
   */
  readonly uncountedImports: Array<{ index: number; versions: number }> = [];
  /** Imports that did not list the tags they set or moved (they may have moved any tag). */
  readonly tagImports: number[] = [];
  events = 0;

  /** Folds one event in; events must come in log order. Malformed events are skipped (the log checks report them). */
  apply(index: number, e: LoggedEvent): void {
    if (!e || typeof e !== 'object' || typeof e.action !== 'string') return;
    this.events++;
    const action = e.action;
    const ok = e.outcome === 'ok';
    const t = e.target && typeof e.target === 'object' ? e.target : {};
    const p = e.params && typeof e.params === 'object' ? e.params : {};
    const actor = e.actor && typeof e.actor.id === 'string' ? e.actor.id : null;
    const name = str(t.name);
    const number = int(t.version);
    const digest = hex(t.digest);
    switch (action) {
      case 'dataset.version.create':
      case 'dataset.clean':
        if (ok && name && number !== null && digest)
          this.datasetVersions.set(`${name}@v${number}`, { index, action, value: { digest, author: actor } });
        break;
      case 'dataset.split': {
        if (!ok || !Array.isArray(p.splits) || !Array.isArray(e.outputs)) break;
        p.splits.forEach((ref, i) => {
          const r = parseVersionRef(ref);
          const d = hex((e.outputs as unknown[])[i]);
          if (r && d)
            this.datasetVersions.set(`${r.name}@v${r.number}`, { index, action, value: { digest: d, author: actor } });
        });
        break;
      }
      case 'remote.pull':
      case 'workspace.clone':
        if (ok) this.#applyImport(index, action, p);
        break;
      case 'dataset.tag': {
        const tag = str(p.tag);
        if (ok && name && tag && number !== null)
          this.datasetTags.set(`${name}@${tag}`, { index, action, value: { number, digest } });
        break;
      }
      case 'model.register':
        if (ok && name && number !== null && digest) {
          this.modelVersions.set(`${name}@v${number}`, {
            index,
            action,
            value: {
              digest,
              author: actor,
              run: 'run' in p ? (str(p.run) ?? null) : undefined,
              format: str(p.format) ?? undefined,
            },
          });
        }
        break;
      case 'model.promote': {
        const alias = str(p.alias);
        if (ok && name && alias && number !== null)
          this.#moveAlias(`${name}@${alias}`, {
            index,
            action,
            value: { removed: false, number, ...(digest ? { digest } : {}) },
          });
        break;
      }
      case 'model.rollback': {
        const alias = str(p.alias);
        if (!ok || !name || !alias) break;
        // Rollbacks name the version they moved to by number and digest; older ones only by
        // the version's row id (params.to), which is what they can be checked on.
        if (number !== null)
          this.#moveAlias(`${name}@${alias}`, {
            index,
            action,
            value: { removed: false, number, ...(digest ? { digest } : {}) },
          });
        else if (str(p.to))
          this.#moveAlias(`${name}@${alias}`, { index, action, value: { removed: false, versionId: str(p.to)! } });
        break;
      }
      case 'model.alias.remove': {
        const alias = str(p.alias);
        if (ok && name && alias) this.#moveAlias(`${name}@${alias}`, { index, action, value: { removed: true } });
        break;
      }
      case 'model.approve': {
        const alias = str(p.alias);
        const approver = str(p.approver) ?? actor;
        if (ok && name && number !== null && alias && approver) {
          const k = approvalKey(name, number, alias, approver);
          this.approvals.set(k, [...(this.approvals.get(k) ?? []), index]);
        }
        break;
      }
      case 'model.policy.set': {
        const alias = str(p.alias);
        if (!ok || !name || !alias) break;
        const { alias: _alias, ...policy } = p;
        this.policies.set(`${name}@${alias}`, { index, action, value: canonicalJson(policy) });
        break;
      }
      case 'model.evaluate': {
        const report = hex(p.report);
        if (!committed(e) || !name || !report) break;
        this.evaluations.set(report, {
          index,
          action,
          value: {
            model: name,
            number,
            suite: str(p.suite),
            suiteDigest: hex(p.suiteDigest),
            passed: typeof p.passed === 'boolean' ? p.passed : null,
          },
        });
        break;
      }
      case 'model.deploy':
        if (committed(e)) this.#applyDeploy(index, e, p, { name, number, digest, actor });
        break;
      case 'model.release':
        if (ok && name && number !== null) {
          const k = `${name}@v${number}`;
          this.releases.set(k, [
            ...(this.releases.get(k) ?? []),
            { index, keyid: str(p.keyid), release: str(p.release) },
          ]);
        }
        break;
      case 'run.submit':
      case 'run.reuse': {
        // A refused submission (over budget) is recorded with its row; a failed attempt is not.
        if (!name || !(ok || (action === 'run.submit' && e.outcome === 'denied' && committed(e)))) break;
        const ended =
          action === 'run.reuse'
            ? { status: 'reused', index, action }
            : e.outcome === 'denied'
              ? { status: 'refused', index, action }
              : null;
        this.runs.set(name, {
          index,
          action,
          value: {
            runKey: str(p.runKey),
            name: str(p.runName),
            project: str(p.project),
            specDigest: hex(p.specDigest),
            author: actor,
            reusedFrom: action === 'run.reuse' ? str(p.reusedFrom) : null,
            ended,
          },
        });
        break;
      }
      case 'run.finish':
      case 'run.fail':
      case 'run.cancel': {
        const run = name ? this.runs.get(name) : undefined;
        if (!run) break;
        if (action === 'run.finish' && ok) {
          const outs = Array.isArray(e.outputs) ? e.outputs : [];
          run.value.ended = { status: 'completed', index, action, outputDigest: outs.length ? hex(outs[0]) : null };
        } else if (action === 'run.cancel' && ok) run.value.ended = { status: 'cancelled', index, action };
        else if (action === 'run.fail' && committed(e) && str(p.state))
          run.value.ended = { status: str(p.state)!, index, action };
        break;
      }
    }
  }

  #moveAlias(key: string, v: Vouched<AliasTarget>): void {
    this.aliases.set(key, v);
    const moves = this.aliasMoves.get(key);
    if (moves) moves.push(v);
    else this.aliasMoves.set(key, [v]);
  }

  #applyImport(index: number, action: string, p: Record<string, unknown>): void {
    if (Array.isArray(p.imported)) {
      for (const v of p.imported as Array<Record<string, unknown>>) {
        const dataset = str(v?.dataset);
        const n = int(v?.number);
        const d = hex(v?.digest);
        if (dataset && n !== null && d)
          this.datasetVersions.set(`${dataset}@v${n}`, { index, action, value: { digest: d, author: str(v.author) } });
      }
    } else {
      // Before imports were itemised: remote.pull counted them in params.imported.versions,
      // workspace.clone in params.versions.
      const counted =
        action === 'remote.pull' ? (p.imported as { versions?: unknown } | undefined)?.versions : p.versions;
      const n = int(counted);
      if (n) this.uncountedImports.push({ index, versions: n });
    }
    if (Array.isArray(p.importedTags)) {
      for (const t of p.importedTags as Array<Record<string, unknown>>) {
        const dataset = str(t?.dataset);
        const tag = str(t?.tag);
        const n = int(t?.number);
        if (dataset && tag && n !== null)
          this.datasetTags.set(`${dataset}@${tag}`, { index, action, value: { number: n, digest: hex(t.digest) } });
      }
    } else this.tagImports.push(index);
  }

  #applyDeploy(
    index: number,
    e: LoggedEvent,
    p: Record<string, unknown>,
    t: { name: string | null; number: number | null; digest: string | null; actor: string | null },
  ): void {
    const id = str(p.deployment);
    const status = str(p.status);
    if (id && t.name && status === 'pending' && e.outcome === 'ok') {
      this.deployments.set(id, {
        index,
        action: 'model.deploy',
        value: {
          model: t.name,
          number: t.number,
          digest: t.digest,
          env: str(p.env),
          alias: str(p.alias),
          by: t.actor,
          status,
          statusIndex: index,
        },
      });
    } else if (id && status && status !== 'pending') {
      const d = this.deployments.get(id);
      if (d) {
        d.value.status = status;
        d.value.statusIndex = index;
      }
    }
    const move = p.aliasMove as { alias?: unknown; to?: unknown } | undefined;
    const to = parseVersionRef(move?.to);
    if (move && str(move.alias) && to)
      this.#moveAlias(`${to.name}@${str(move.alias)}`, {
        index,
        action: 'model.deploy',
        value: { removed: false, number: to.number },
      });
  }
}

export function approvalKey(model: string, number: number, alias: string, approver: string): string {
  return `${model}@v${number} ${alias} by ${approver}`;
}

/**
 * Whether an event's state change was committed. A refused or failed attempt that changed
 * nothing is recorded after its transaction rolled back, with the reason `<CODE>: <the code's
 * generic summary>`; an outcome committed together with its rows (a failed evaluation, a
 * failed deployment, a refused run) carries its own reason.
 */
export function committed(e: LoggedEvent): boolean {
  if (e.outcome === 'ok') return true;
  const reason = typeof e.reason === 'string' ? e.reason : '';
  const m = /^([A-Z_]+): /.exec(reason);
  if (!m) return true;
  const entry = (errorCatalogue as Record<string, { summary: string } | undefined>)[m[1]!];
  return !(entry && reason === `${m[1]}: ${entry.summary}`);
}

/** `name@vN` → its parts (names never contain `@`). */
export function parseVersionRef(ref: unknown): { name: string; number: number } | null {
  if (typeof ref !== 'string') return null;
  const m = /^(.+)@v(\d+)$/.exec(ref);
  return m ? { name: m[1]!, number: Number(m[2]) } : null;
}

function str(v: unknown): string | null {
  return typeof v === 'string' && v.length > 0 ? v : null;
}

function int(v: unknown): number | null {
  return typeof v === 'number' && Number.isSafeInteger(v) ? v : null;
}

/** `sha256:<hex>` or bare hex → bare hex; anything else → null. */
export function hex(v: unknown): string | null {
  if (typeof v !== 'string') return null;
  const h = v.startsWith('sha256:') ? v.slice(7) : v;
  return /^[0-9a-f]{64}$/.test(h) ? h : null;
}
