import {
  committed,
  hex,
  int,
  parseVersionRef,
  recordOf,
  str,
  type EventFields,
  type LoggedEvent,
} from './event-fields.js';
import type { FlatTarget } from './flat-target.js';
import { applyDeployEvent, applyModelEvent } from './model-events.js';
import { applyRunEvent } from './run-events.js';
import { applyHoldEvent, type HoldState } from './reconcile-holds.js';
import { applyIdentityEvent, IDENTITY_ACTIONS, type AccountState, type TokenState } from './identity-events.js';
import { VersionTable } from './version-table.js';

export { approvalKey, committed, hex, parseVersionRef, STATE_ACTIONS, type LoggedEvent } from './event-fields.js';

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
  /** The run's own name, tags and note (`humanName`, `tags`, `note`; null in events from before 0008). */
  label: { humanName: string | null; tags: string; note: string | null } | null;
  /** Set by the event that ended the run (or refused it), with its index. */
  ended: {
    status: string;
    index: number;
    action: string;
    outputDigest?: string | null;
    /** The digests (hex) of its metric points and parameters the event logged (absent: it logged none). */
    record?: { metricsDigest: string; paramsDigest: string };
  } | null;
  /** A run an import brought in: where the import recorded it came from (its `run_imports` row must say the same). */
  imported?: { origin: string | null; index: number | null; author: string | null };
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

export interface ModelVersionState {
  digest: string;
  author: string | null;
  run: string | null | undefined;
  format: string | undefined;
}

export interface EvaluationState {
  model: string;
  number: number | null;
  suite: string | null;
  suiteDigest: string | null;
  passed: boolean | null;
}

const DATASET_ACTIONS = new Set(['dataset.version.create', 'dataset.clean', 'dataset.split', 'dataset.tag']);
const RUN_ACTIONS = new Set(['run.submit', 'run.reuse', 'run.finish', 'run.fail', 'run.cancel']);

export class ExpectedState {
  /** Dataset versions (`name@vN`), compact: the biggest table by far. */
  readonly datasetVersions = new VersionTable();
  readonly datasetTags = new Map<string, Vouched<{ number: number; digest: string | null }>>();
  readonly modelVersions = new Map<string, Vouched<ModelVersionState>>();
  readonly aliases = new Map<string, Vouched<AliasTarget>>();
  /** Every move of each alias, in log order: what its history rows (`model_alias_events`) must say. */
  readonly aliasMoves = new Map<string, Array<Vouched<AliasTarget>>>();
  /** Approval key → the indexes of the events that recorded one (an approval can be given twice). */
  readonly approvals = new Map<string, number[]>();
  readonly policies = new Map<string, Vouched<string>>();
  readonly evaluations = new Map<string, Vouched<EvaluationState>>();
  readonly deployments = new Map<string, Vouched<DeploymentState>>();
  readonly runs = new Map<string, Vouched<RunState>>();
  /** Legal holds and retention periods, by hold id. */
  readonly holds = new Map<string, Vouched<HoldState>>();
  /** A team server's accounts, grants (`user:bob on default` → role) and tokens (by id). */
  readonly accounts = new Map<string, Vouched<AccountState>>();
  readonly grants = new Map<string, Vouched<string>>();
  readonly tokens = new Map<string, Vouched<TokenState>>();
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
    const t = e.target && typeof e.target === 'object' ? e.target : {};
    const f: EventFields = {
      index,
      action: e.action,
      ok: e.outcome === 'ok',
      p: e.params && typeof e.params === 'object' ? e.params : {},
      actor: e.actor && typeof e.actor.id === 'string' ? e.actor.id : null,
      name: str(t.name),
      number: int(t.version),
      digest: hex(t.digest),
    };
    if (DATASET_ACTIONS.has(f.action)) this.#applyDataset(f, e);
    else if (f.action === 'remote.pull' || f.action === 'workspace.clone') {
      if (f.ok) this.#applyImport(index, f.action, f.p);
    } else if (f.action === 'model.deploy') {
      if (committed(e)) applyDeployEvent(this, f, e);
    } else if (RUN_ACTIONS.has(f.action)) applyRunEvent(this, f, e);
    else if (IDENTITY_ACTIONS.has(f.action)) applyIdentityEvent(this, f);
    else if (f.action === 'dataset.hold' || f.action === 'dataset.hold.release') applyHoldEvent(this, f);
    else applyModelEvent(this, f, e);
  }

  /**
   * A version created by `dataset.version.create` or `dataset.clean`: the common case, which the
   * shell feeds straight in from the fields it parsed (no event object per entry).
   */
  addVersion(index: number, action: string, target: unknown, actor: string | null, ok: boolean): void {
    this.events++;
    if (!ok || !target || typeof target !== 'object') return;
    const t = target as { name?: unknown; version?: unknown; digest?: unknown };
    const name = str(t.name);
    const number = int(t.version);
    const digest = hex(t.digest);
    if (name && number !== null && digest) this.datasetVersions.set(name, number, index, action, actor, digest);
  }

  /** The same from a target read by `readFlatTarget` out of `text` (no object made for it). */
  addVersionFlat(index: number, action: string, text: string, t: FlatTarget, actor: string | null, ok: boolean): void {
    this.events++;
    if (!ok || !t.name || t.version === null || t.digestStart < 0) return;
    const from = text.startsWith('sha256:', t.digestStart) ? t.digestStart + 7 : t.digestStart;
    this.datasetVersions.set(t.name, t.version, index, action, actor, text, from, t.digestEnd);
  }

  #applyDataset(f: EventFields, e: LoggedEvent): void {
    const { index, action, ok, p, name, number, digest } = f;
    if (action === 'dataset.split') {
      if (!ok || !Array.isArray(p.splits) || !Array.isArray(e.outputs)) return;
      const outputs = e.outputs as unknown[];
      p.splits.forEach((ref, i) => {
        const r = parseVersionRef(ref);
        const d = hex(outputs[i]);
        if (r && d) this.datasetVersions.set(r.name, r.number, index, action, f.actor, d);
      });
    } else if (action === 'dataset.tag') {
      const tag = str(p.tag);
      if (ok && name && tag && number !== null)
        this.datasetTags.set(`${name}@${tag}`, { index, action, value: { number, digest } });
    } else if (ok && name && number !== null && digest)
      this.datasetVersions.set(name, number, index, action, f.actor, digest);
  }

  /**
   * Evaluations an import brought in (docs/REMOTES.md "Evaluations"): vouched for here by the
   * import, with the claim it took them under.
   */
  #importedEvaluations(list: unknown[], index: number, action: string): void {
    for (const x of list as Array<Record<string, unknown>>) {
      const c = x?.claim && typeof x.claim === 'object' ? (x.claim as Record<string, unknown>) : null;
      const report = c ? hex(c.report) : null;
      const model = c ? str(c.model) : null;
      if (!c || !report || !model) continue;
      this.evaluations.set(report, {
        index,
        action,
        value: {
          model,
          number: int(c.number),
          suite: str(c.suite),
          suiteDigest: hex(c.suiteDigest),
          passed: typeof c.passed === 'boolean' ? c.passed : null,
        },
      });
    }
  }

  /** Records a move of an alias (its current target and its history). */
  moveAlias(key: string, v: Vouched<AliasTarget>): void {
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
        if (dataset && n !== null && d) this.datasetVersions.set(dataset, n, index, action, str(v.author), d);
      }
    } else {
      // Before imports were itemised: remote.pull counted them in params.imported.versions,
      // workspace.clone in params.versions.
      const counted =
        action === 'remote.pull' ? (p.imported as { versions?: unknown } | undefined)?.versions : p.versions;
      const n = int(counted);
      if (n) this.uncountedImports.push({ index, versions: n });
    }
    // Model versions an import brought in (docs/REMOTES.md "Model versions"): vouched for here by
    // the import, with the registrant it recorded.
    if (Array.isArray(p.importedModels)) {
      for (const m of p.importedModels as Array<Record<string, unknown>>) {
        const model = str(m?.model);
        const n = int(m?.number);
        const d = hex(m?.digest);
        if (model && n !== null && d)
          this.modelVersions.set(`${model}@v${n}`, {
            index,
            action,
            value: {
              digest: d,
              author: str(m.registrant),
              run: 'run' in m ? (str(m.run) ?? null) : undefined,
              format: str(m.format) ?? undefined,
            },
          });
      }
    }
    // Runs an import brought in (docs/REMOTES.md "Runs"): vouched for here by the import, with the
    // claim it took them under and whoever brought them (the registrant).
    if (Array.isArray(p.importedRuns)) {
      for (const r of p.importedRuns as Array<Record<string, unknown>>) {
        const id = str(r?.run);
        const c = r?.claim && typeof r.claim === 'object' ? (r.claim as Record<string, unknown>) : null;
        if (!id || !c) continue;
        this.runs.set(id, {
          index,
          action,
          value: {
            runKey: str(c.runKey),
            name: str(c.name),
            project: str(c.project),
            specDigest: hex(c.specDigest),
            author: str(r.registrant),
            reusedFrom: null,
            label: { humanName: str(c.humanName), tags: str(c.tags) ?? '{}', note: str(c.note) },
            ended: {
              status: str(c.status) ?? '?',
              index,
              action,
              outputDigest: hex(c.output),
              // Its points and parameters came with it only when the claim's digests vouched for them.
              ...recordOf(r.record === true ? c : {}),
            },
            imported: { origin: str(r.origin), index: int(r.index), author: str(r.author) },
          },
        });
      }
    }
    if (Array.isArray(p.importedEvaluations)) this.#importedEvaluations(p.importedEvaluations, index, action);
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
}
