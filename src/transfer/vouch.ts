import { createHash } from 'node:crypto';
import { canonicalJson } from '../core/canonical-json.js';
import type { RemoteState } from './state.js';
import { eachOwnEvent } from './log-events.js';

/**
 * An event of a verified remote log that vouches for a version: it created the version
 * (`dataset.version.create`, `dataset.clean`, `dataset.split`) or imported it from a log that
 * did (`remote.pull`, `workspace.clone` with `params.imported`).
 */
export interface Voucher {
  /** `sha256:<hex>`, as events write digests. */
  digest: string;
  author: string;
  /** The log it is in (its origin) and its index there. */
  origin: string;
  index: number;
  /** The workspace whose log it is. */
  workspace?: string;
  /** Model versions: `sha256:<hex>` of the card row as registered (absent in events from before cards were logged). */
  card?: string;
  format?: string;
}

/** Vouchers by `<dataset>@<number>`, and model versions by `modelKey(name, number)`. */
export type Vouchers = Map<string, Voucher[]>;

/** A model version's key among the vouchers: a NUL cannot be in a dataset name, so it never meets one. */
export function modelKey(name: string, number: number): string {
  return `\u0000model:${name}@${number}`;
}

/** `sha256:<hex>` of a model version's card as stored (canonical JSON): what `model.register` logs. */
export function cardDigest(card: string): string {
  return `sha256:${createHash('sha256').update(card).digest('hex')}`;
}

/**
 * What a `remote.pull` / `workspace.clone` event records per imported model version
 * (`params.importedModels`): the version, the verified event that vouches for it (origin log,
 * its workspace and index), who registered it there (`author`), and who is its registrant here
 * (`registrant`: on a team server the authenticated account that pushed it).
 */
export interface ImportedModelVersion {
  model: string;
  number: number;
  digest: string;
  card: string;
  format: string;
  run: string | null;
  author: string;
  registrant: string;
  origin: string;
  workspace: string | null;
  index: number;
}

export interface UnvouchedModelVersion {
  model: string;
  number: number;
  digest: string;
  why: string;
}

/** What a `remote.pull` / `workspace.clone` event records per imported version (`params.imported`). */
export interface ImportedVersion {
  dataset: string;
  number: number;
  digest: string;
  author: string;
  origin: string;
  index: number;
}

export interface UnvouchedVersion {
  dataset: string;
  number: number;
  digest: string;
  author: string;
  why: string;
}

export interface ImportPlan {
  /** The remote state cut down to what may be imported (vouched or already here). */
  state: RemoteState;
  /** Versions this workspace lacks and will import, each with its voucher. */
  imported: ImportedVersion[];
  /** Versions refused, with the reason. */
  skipped: UnvouchedVersion[];
  /** Model versions this workspace lacks and will import, each with its voucher. */
  importedModels: ImportedModelVersion[];
  /** Model versions refused, with the reason. */
  skippedModels: UnvouchedModelVersion[];
}

type AnyEvent = {
  index?: unknown;
  workspace?: unknown;
  action?: unknown;
  outcome?: unknown;
  actor?: { id?: unknown };
  target?: { name?: unknown; version?: unknown; digest?: unknown };
  outputs?: unknown;
  params?: { splits?: unknown; imported?: unknown; importedModels?: unknown; card?: unknown; format?: unknown };
};

const DIGEST = /^sha256:[0-9a-f]{64}$/;
const RELEVANT =
  /"action":"(?:dataset\.version\.create|dataset\.clean|dataset\.split|remote\.pull|workspace\.clone|model\.register)"/;

/** The objects of an event's list field (anything else in it is ignored). */
function listOf<T>(v: unknown): Array<Partial<T>> {
  return Array.isArray(v) ? (v as unknown[]).filter((x): x is Partial<T> => !!x && typeof x === 'object') : [];
}

/** Adds one voucher under `key` when the event's fields are well formed (others vouch for nothing). */
function addVoucher(
  into: Vouchers,
  key: string | null,
  number: unknown,
  v: Omit<Voucher, 'digest' | 'author'> & { digest: unknown; author: unknown },
): void {
  const { digest, author } = v;
  if (key === null || !Number.isSafeInteger(number) || typeof digest !== 'string' || !DIGEST.test(digest)) return;
  if (typeof author !== 'string') return;
  const list = into.get(key) ?? [];
  list.push({ ...v, digest, author });
  into.set(key, list);
}

/**
 * Adds the vouchers of one verified log (`entries`: its entry texts, in index order). Only `ok`
 * events of the log's own workspace count. Pure: the caller verified the log.
 */
export function collectVouchers(
  into: Vouchers,
  log: { workspace: string; origin: string },
  entries: readonly string[],
): void {
  const add = (dataset: unknown, number: unknown, digest: unknown, author: unknown, index: number) =>
    addVoucher(into, typeof dataset === 'string' ? `${dataset}@${String(number)}` : null, number, {
      digest,
      author,
      origin: log.origin,
      index,
    });
  const addModel = (
    name: unknown,
    number: unknown,
    digest: unknown,
    author: unknown,
    index: number,
    extra: { card?: unknown; format?: unknown },
  ) =>
    addVoucher(
      into,
      typeof name === 'string' && Number.isSafeInteger(number) ? modelKey(name, number as number) : null,
      number,
      {
        digest,
        author,
        origin: log.origin,
        index,
        workspace: log.workspace,
        ...(typeof extra.card === 'string' && DIGEST.test(extra.card) ? { card: extra.card } : {}),
        ...(typeof extra.format === 'string' ? { format: extra.format } : {}),
      },
    );
  eachOwnEvent<AnyEvent>(entries, log.workspace, RELEVANT, (e, index) => {
    if (e.outcome !== 'ok') return;
    const author = e.actor?.id;
    switch (e.action) {
      case 'dataset.version.create':
      case 'dataset.clean':
        add(e.target?.name, e.target?.version, e.target?.digest, author, index);
        break;
      case 'dataset.split': {
        const splits = Array.isArray(e.params?.splits) ? (e.params.splits as unknown[]) : [];
        const outputs = Array.isArray(e.outputs) ? (e.outputs as unknown[]) : [];
        splits.forEach((ref, i) => {
          const m = typeof ref === 'string' ? /^(.+)@v(\d+)$/.exec(ref) : null;
          if (m) add(m[1], Number(m[2]), outputs[i], author, index);
        });
        break;
      }
      case 'remote.pull':
      case 'workspace.clone': {
        for (const x of listOf<ImportedVersion>(e.params?.imported))
          add(x.dataset, x.number, x.digest, x.author, index);
        // A model version this log imported: it vouches for it onward, with the registrant it recorded.
        for (const x of listOf<ImportedModelVersion>(e.params?.importedModels))
          addModel(x.model, x.number, x.digest, x.registrant, index, x);
        break;
      }
      case 'model.register':
        addModel(e.target?.name, e.target?.version, e.target?.digest, author, index, {
          card: e.params?.card,
          format: e.params?.format,
        });
        break;
    }
  });
}

/**
 * Which of a remote's versions may be imported: those this workspace holds already, and those
 * an event of a verified log vouches for with the same dataset name, number, digest and author
 * (and whose parent may be imported too). Everything attached to a refused version (tags,
 * lineage, reports) is left out with it. Pure.
 */
export function planImport(
  remote: RemoteState,
  vouchers: Vouchers,
  localVersionIds: ReadonlySet<string>,
  models: ModelImportContext = { local: new Set(), localFiles: new Map() },
): ImportPlan {
  const names = new Map(remote.datasets.map((d) => [d.id, d.name]));
  const ok = new Set<string>(localVersionIds);
  const imported: ImportedVersion[] = [];
  const skipped: UnvouchedVersion[] = [];
  // Parents first: a version whose parent is refused cannot be stored either.
  const ordered = [...remote.versions].sort((a, b) => a.number - b.number);
  for (const v of ordered) {
    if (localVersionIds.has(v.id)) continue;
    const dataset = names.get(v.dataset_id) ?? v.dataset_id;
    const digest = `sha256:${v.digest}`;
    const base = { dataset, number: v.number, digest, author: v.author };
    const list = vouchers.get(`${dataset}@${v.number}`) ?? [];
    const match = list.find((x) => x.digest === digest && x.author === v.author);
    let why: string | null = null;
    if (!names.has(v.dataset_id)) why = 'its dataset is not in the remote state';
    else if (!match) {
      why =
        list.length === 0
          ? 'no event of a verified audit log records it'
          : list.some((x) => x.digest === digest)
            ? `the event that records it names another author (${list.find((x) => x.digest === digest)!.author})`
            : `the event that records ${dataset}@v${v.number} names another digest (${list[0]!.digest})`;
    } else if (v.parent_id !== null && !ok.has(v.parent_id)) why = 'its parent version is refused or missing';
    if (why !== null || !match) {
      skipped.push({ ...base, why: why ?? 'not vouched for' });
      continue;
    }
    ok.add(v.id);
    imported.push({ ...base, origin: match.origin, index: match.index });
  }
  const keepVersion = (id: string) => ok.has(id);
  const versions = remote.versions.filter((v) => keepVersion(v.id));
  const mv = planModelImport(remote, vouchers, models, ok);
  const datasetIds = new Set(versions.map((v) => v.dataset_id));
  const state: RemoteState = {
    ...remote,
    datasets: remote.datasets.filter((d) => datasetIds.has(d.id)),
    versions,
    tags: remote.tags.filter((t) => keepVersion(t.version_id)),
    lineage: remote.lineage.filter(
      (e) =>
        (e.src_type !== 'dataset_version' || keepVersion(e.src_id)) &&
        (e.dst_type !== 'dataset_version' || keepVersion(e.dst_id)) &&
        modelEdgeTravels(e, (id) => mv.ok.has(id)),
    ),
    reports: remote.reports.filter((r) => keepVersion(r.version_id)),
    models: mv.models,
    modelVersions: mv.versions,
  };
  return { state, imported, skipped, importedModels: mv.imported, skippedModels: mv.skipped };
}

/** What planImport needs to know of this side's model versions. */
export interface ModelImportContext {
  /** Ids of the model versions this side holds already. */
  local: ReadonlySet<string>;
  /** Digest (bare hex) of each dataset version this side holds, by id: a model's files may be one of them. */
  localFiles: ReadonlyMap<string, string>;
  /**
   * Who is recorded as the registrant of what is imported: a team server passes the
   * authenticated account that pushed; a workspace keeps the verified event's author (null).
   */
  registrant?: string | null;
}

/** Registration lineage only (files → version, run → version): releases and the rest are each side's own. */
const MODEL_RELATIONS = new Set(['files', 'trained']);

/** Whether a lineage edge that touches a model version may travel with it. Pure. */
export function modelEdgeTravels(
  e: { src_type: string; dst_type: string; dst_id: string; relation: string },
  kept: (modelVersionId: string) => boolean,
): boolean {
  if (e.src_type === 'model_version') return false;
  if (e.dst_type !== 'model_version') return true;
  return MODEL_RELATIONS.has(e.relation) && kept(e.dst_id);
}

/**
 * The model versions of a remote state that may be imported: each needs an event of a verified
 * log that registered (or imported) exactly that name, number and digest, with the same card
 * and format when the event logged them, and its files in a dataset version that is here or
 * imported with it, at that same digest. Pure.
 */
function planModelImport(
  remote: RemoteState,
  vouchers: Vouchers,
  ctx: ModelImportContext,
  datasetOk: ReadonlySet<string>,
) {
  const names = new Map(remote.models.map((m) => [m.id, m.name]));
  const files = new Map<string, string>(ctx.localFiles);
  for (const v of remote.versions) if (datasetOk.has(v.id)) files.set(v.id, v.digest);
  const ok = new Set<string>(ctx.local);
  const imported: ImportedModelVersion[] = [];
  const skipped: UnvouchedModelVersion[] = [];
  const rows: RemoteState['modelVersions'] = [];
  for (const v of [...remote.modelVersions].sort((a, b) => a.number - b.number)) {
    if (ctx.local.has(v.id)) {
      rows.push(v);
      continue;
    }
    const model = names.get(v.model_id) ?? v.model_id;
    const digest = `sha256:${v.digest}`;
    const card = cardDigest(v.card);
    const list = vouchers.get(modelKey(model, v.number)) ?? [];
    const sameDigest = list.filter((x) => x.digest === digest);
    const match = sameDigest.find(
      (x) => (x.card === undefined || x.card === card) && (x.format === undefined || x.format === v.format),
    );
    const unlike = rowUnlikeCard(v);
    let why: string | null = null;
    if (!names.has(v.model_id)) why = 'its model is not in the remote state';
    else if (!list.length) why = 'no event of a verified audit log registers it';
    else if (!sameDigest.length)
      why = `the event that registers ${model}@v${v.number} names another digest (${list[0]!.digest})`;
    else if (!match)
      why = sameDigest.some((x) => x.card !== undefined && x.card !== card)
        ? 'its card is not the one the registering event logged'
        : 'its format is not the one the registering event logged';
    else if (unlike !== null) why = unlike;
    else if (files.get(v.files_version_id) !== v.digest)
      why = files.has(v.files_version_id)
        ? 'the dataset version it names for its files holds another tree'
        : 'the dataset version that holds its files is refused or missing';
    if (why !== null || !match) {
      skipped.push({ model, number: v.number, digest, why: why ?? 'not vouched for' });
      continue;
    }
    ok.add(v.id);
    const registrant = ctx.registrant ?? match.author;
    rows.push({ ...v, created_by: registrant });
    imported.push({
      model,
      number: v.number,
      digest,
      card,
      format: v.format,
      run: v.run_id,
      author: match.author,
      registrant,
      origin: match.origin,
      workspace: match.workspace ?? null,
      index: match.index,
    });
  }
  const modelIds = new Set(rows.map((v) => v.model_id));
  return { ok, imported, skipped, versions: rows, models: remote.models.filter((m) => modelIds.has(m.id)) };
}

/**
 * Why a model row's signature or run differs from its card's, or null. The event vouches for the
 * card, not for these columns, yet `model evaluate` feeds the model by the row's signature and
 * a release states the row's run as the model's build: they must be the card's. Pure.
 */
function rowUnlikeCard(v: RemoteState['modelVersions'][number]): string | null {
  let card: { signature?: unknown; training?: { run?: { id?: unknown } | null } };
  let signature: string | null;
  try {
    card = JSON.parse(v.card) as typeof card;
    signature = v.signature === null ? null : canonicalJson(JSON.parse(v.signature));
  } catch {
    return 'its card or signature is not JSON';
  }
  if (signature !== (card.signature ? canonicalJson(card.signature) : null))
    return 'its signature is not the one its card records';
  if ((v.run_id ?? null) !== (card.training?.run?.id ?? null)) return 'its run is not the one its card records';
  return null;
}

/** `mail@v3 (sha256:ab12…, author x): why` — for messages that name refused versions. */
export function describeUnvouched(s: UnvouchedVersion): string {
  return `${s.dataset}@v${s.number} (${s.digest.slice(0, 19)}…, author ${s.author}): ${s.why}`;
}

/** `spam@v3 (sha256:ab12…): why` — for messages that name refused model versions. */
export function describeUnvouchedModel(s: UnvouchedModelVersion): string {
  return `model ${s.model}@v${s.number} (${s.digest.slice(0, 19)}…): ${s.why}`;
}
