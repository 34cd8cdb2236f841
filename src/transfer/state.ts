import type { Selectable } from 'kysely';
import { CairnError } from '../core/errors.js';
import type {
  DatasetsTable,
  DatasetTagsTable,
  DatasetVersionsTable,
  DocumentsTable,
  LineageEdgesTable,
  ReportsTable,
} from '../meta/schema.js';

export const STATE_FORMAT = 'cairn.remote-state/v1';

export type VersionRow = Selectable<DatasetVersionsTable>;

/**
 * What a remote knows besides bytes: the metadata rows of every version pushed to it (copied
 * verbatim, ids included, so lineage and reports keep pointing at the right rows), which packs
 * each version needs, and the audit log each pushing workspace left there.
 */
export interface RemoteState {
  format: typeof STATE_FORMAT;
  datasets: Array<Selectable<DatasetsTable>>;
  versions: Array<VersionRow & { packs: string[] }>;
  tags: Array<Selectable<DatasetTagsTable>>;
  lineage: Array<Selectable<LineageEdgesTable>>;
  reports: Array<Selectable<ReportsTable>>;
  documents: Array<Selectable<DocumentsTable>>;
  packs: Array<{ id: string; size: number }>;
  /** Per workspace that pushed: where its audit log lies on the remote and how far it reached. */
  audit: Array<{ workspace: string; origin: string; size: number; root: string; key: string }>;
}

export function emptyState(): RemoteState {
  return {
    format: STATE_FORMAT,
    datasets: [],
    versions: [],
    tags: [],
    lineage: [],
    reports: [],
    documents: [],
    packs: [],
    audit: [],
  };
}

export function parseState(buf: Buffer): RemoteState {
  let s: RemoteState;
  try {
    s = JSON.parse(buf.toString('utf8')) as RemoteState;
  } catch (err) {
    throw new CairnError('CORRUPT_OBJECT', `the remote's meta/state.json is not JSON: ${(err as Error).message}`);
  }
  if (s?.format !== STATE_FORMAT)
    throw new CairnError(
      'UNSUPPORTED',
      `the remote's state has format ${JSON.stringify(s?.format)}; this Cairn reads ${STATE_FORMAT}`,
      { hint: 'upgrade Cairn' },
    );
  for (const k of ['datasets', 'versions', 'tags', 'lineage', 'reports', 'documents', 'packs', 'audit'] as const) {
    if (!Array.isArray(s[k])) throw new CairnError('CORRUPT_OBJECT', `the remote's state has no ${k} list`);
  }
  for (const v of s.versions) {
    if (!/^[0-9a-f]{64}$/.test(v.digest) || !Array.isArray(v.packs) || v.packs.some((p) => !/^[0-9a-f]{64}$/.test(p))) {
      throw new CairnError('CORRUPT_OBJECT', `the remote's state lists a malformed version (${JSON.stringify(v.id)})`);
    }
  }
  return s;
}

export interface Conflict {
  what: string;
  ours: string;
  theirs: string;
}

/**
 * Merges `incoming` into `base`. Versions are immutable, so the same dataset name or version
 * number carrying different content is a conflict (reported, never overwritten); tags move,
 * so the newer assignment wins; everything else is a union by id. Pure, so push and pull
 * plan with it before touching anything.
 */
export function mergeState(
  base: RemoteState,
  incoming: RemoteState,
): { state: RemoteState; conflicts: Conflict[]; added: { datasets: number; versions: number } } {
  const conflicts: Conflict[] = [];
  const datasets = mergeDatasets(base, incoming, conflicts);
  const nameOf = new Map([...base.datasets, ...incoming.datasets].map((d) => [d.id, d.name]));
  const versions = mergeVersions(base, incoming, nameOf, conflicts);
  const tags = new Map(base.tags.map((t) => [`${t.dataset_id}:${t.tag}`, t]));
  for (const t of incoming.tags) {
    const k = `${t.dataset_id}:${t.tag}`;
    const have = tags.get(k);
    if (!have || t.created_at > have.created_at) tags.set(k, t);
  }
  const union = <T>(a: T[], b: T[], key: (x: T) => string) => [
    ...new Map([...a, ...b].map((x) => [key(x), x])).values(),
  ];
  const audit = new Map(base.audit.map((a) => [a.workspace, a]));
  for (const a of incoming.audit) if ((audit.get(a.workspace)?.size ?? -1) <= a.size) audit.set(a.workspace, a);
  return {
    state: {
      format: STATE_FORMAT,
      datasets: byKey(datasets.merged.values(), (d) => d.name),
      versions: byKey(
        versions.merged.values(),
        (v) => `${nameOf.get(v.dataset_id) ?? ''}\u0000${String(v.number).padStart(12, '0')}`,
      ),
      tags: byKey(tags.values(), (t) => `${t.dataset_id}:${t.tag}`),
      lineage: byKey(
        union(base.lineage, incoming.lineage, (e) => e.id),
        (e) => e.id,
      ),
      reports: byKey(
        union(base.reports, incoming.reports, (r) => r.id),
        (r) => r.id,
      ),
      documents: byKey(
        union(base.documents, incoming.documents, (d) => d.digest),
        (d) => d.digest,
      ),
      packs: byKey(
        union(base.packs, incoming.packs, (p) => p.id),
        (p) => p.id,
      ),
      audit: byKey(audit.values(), (a) => a.workspace),
    },
    conflicts,
    added: { datasets: datasets.added, versions: versions.added },
  };
}

function byKey<T>(xs: Iterable<T>, key: (x: T) => string): T[] {
  return [...xs].sort((x, y) => (key(x) < key(y) ? -1 : key(x) > key(y) ? 1 : 0));
}

/** Datasets by name: a name held by another dataset (another id) is a conflict. */
function mergeDatasets(base: RemoteState, incoming: RemoteState, conflicts: Conflict[]) {
  const merged = new Map(base.datasets.map((d) => [d.name, d]));
  let added = 0;
  for (const d of incoming.datasets) {
    const have = merged.get(d.name);
    if (!have) {
      merged.set(d.name, d);
      added++;
    } else if (have.id !== d.id) {
      conflicts.push({
        what: `dataset ${d.name}`,
        ours: `created ${d.created_at} by ${d.created_by}`,
        theirs: `created ${have.created_at} by ${have.created_by}`,
      });
    }
  }
  return { merged, added };
}

/** Versions by dataset and number: other content under the same number is a conflict. */
function mergeVersions(
  base: RemoteState,
  incoming: RemoteState,
  nameOf: ReadonlyMap<string, string>,
  conflicts: Conflict[],
) {
  const versionKey = (v: VersionRow) => `${v.dataset_id}@${v.number}`;
  const merged = new Map(base.versions.map((v) => [versionKey(v), v]));
  let added = 0;
  for (const v of incoming.versions) {
    const have = merged.get(versionKey(v));
    if (!have) {
      merged.set(versionKey(v), v);
      added++;
    } else if (have.id !== v.id || have.digest !== v.digest) {
      conflicts.push({
        what: `${nameOf.get(v.dataset_id) ?? v.dataset_id}@v${v.number}`,
        ours: `sha256:${v.digest}`,
        theirs: `sha256:${have.digest}`,
      });
    } else if (v.packs.length && v.packs.join() !== have.packs.join()) {
      // Repacking (gc) moves blobs: the pusher's list is the one it just uploaded.
      merged.set(versionKey(v), v);
    }
  }
  return { merged, added };
}

export function divergedError(conflicts: readonly Conflict[], remote: string, direction: 'push' | 'pull'): CairnError {
  const lines = conflicts.slice(0, 10).map((c) => `${c.what}: here ${c.ours}, on ${remote} ${c.theirs}`);
  return new CairnError(
    'DIVERGED',
    `${remote} and this workspace disagree on ${conflicts.length} name(s):\n  ${lines.join('\n  ')}${conflicts.length > 10 ? '\n  …' : ''}`,
    {
      data: { conflicts },
      hint:
        direction === 'push'
          ? 'versions are immutable: add your data under another dataset name, or clone the remote and work from there'
          : 'the remote holds another dataset under the same name; pull into a fresh workspace (cairn clone) to compare',
    },
  );
}
