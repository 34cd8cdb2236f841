import type { RemoteState } from './state.js';

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
}

/** Vouchers by `<dataset>@<number>`. */
export type Vouchers = Map<string, Voucher[]>;

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
}

type AnyEvent = {
  index?: unknown;
  workspace?: unknown;
  action?: unknown;
  outcome?: unknown;
  actor?: { id?: unknown };
  target?: { name?: unknown; version?: unknown; digest?: unknown };
  outputs?: unknown;
  params?: { splits?: unknown; imported?: unknown };
};

const DIGEST = /^sha256:[0-9a-f]{64}$/;
const RELEVANT = /"action":"(?:dataset\.version\.create|dataset\.clean|dataset\.split|remote\.pull|workspace\.clone)"/;

/**
 * Adds the vouchers of one verified log (`entries`: its entry texts, in index order). Only `ok`
 * events of the log's own workspace count. Pure: the caller verified the log.
 */
export function collectVouchers(
  into: Vouchers,
  log: { workspace: string; origin: string },
  entries: readonly string[],
): void {
  const add = (dataset: unknown, number: unknown, digest: unknown, author: unknown, index: number) => {
    if (
      typeof dataset !== 'string' ||
      !Number.isSafeInteger(number) ||
      typeof digest !== 'string' ||
      !DIGEST.test(digest) ||
      typeof author !== 'string'
    )
      return;
    const key = `${dataset}@${String(number)}`;
    const list = into.get(key) ?? [];
    list.push({ digest, author, origin: log.origin, index });
    into.set(key, list);
  };
  entries.forEach((text, index) => {
    if (!RELEVANT.test(text)) return;
    let e: AnyEvent;
    try {
      e = JSON.parse(text) as AnyEvent;
    } catch {
      return;
    }
    if (e.outcome !== 'ok' || e.workspace !== log.workspace || e.index !== index) return;
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
        const imported = Array.isArray(e.params?.imported)
          ? (e.params.imported as Array<Partial<ImportedVersion>>)
          : [];
        for (const x of imported) if (x && typeof x === 'object') add(x.dataset, x.number, x.digest, x.author, index);
        break;
      }
    }
  });
}

/**
 * Which of a remote's versions may be imported: those this workspace holds already, and those
 * an event of a verified log vouches for with the same dataset name, number, digest and author
 * (and whose parent may be imported too). Everything attached to a refused version (tags,
 * lineage, reports) is left out with it. Pure.
 */
export function planImport(remote: RemoteState, vouchers: Vouchers, localVersionIds: ReadonlySet<string>): ImportPlan {
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
  const datasetIds = new Set(versions.map((v) => v.dataset_id));
  const state: RemoteState = {
    ...remote,
    datasets: remote.datasets.filter((d) => datasetIds.has(d.id)),
    versions,
    tags: remote.tags.filter((t) => keepVersion(t.version_id)),
    lineage: remote.lineage.filter(
      (e) =>
        (e.src_type !== 'dataset_version' || keepVersion(e.src_id)) &&
        (e.dst_type !== 'dataset_version' || keepVersion(e.dst_id)),
    ),
    reports: remote.reports.filter((r) => keepVersion(r.version_id)),
  };
  return { state, imported, skipped };
}

/** `mail@v3 (sha256:ab12…, author x): why` — for messages that name refused versions. */
export function describeUnvouched(s: UnvouchedVersion): string {
  return `${s.dataset}@v${s.number} (${s.digest.slice(0, 19)}…, author ${s.author}): ${s.why}`;
}
