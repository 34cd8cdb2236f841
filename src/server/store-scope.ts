import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import type { RequestScope, ServerRuntime } from '../app/server.js';
import type { ServerStore } from '../app/server-store.js';
import type { StoredObject } from '../app/store-object-stream.js';
import { CairnError, isCairnError } from '../core/errors.js';
import { servedState } from '../app/server-state.js';
import { parseState, type RemoteState } from '../transfer/index.js';
import {
  hiddenOutputs,
  importShown,
  mayRead,
  parseEntries,
  redactLines,
  type HiddenOutputs,
  type Reader,
} from './read-scope.js';
import { ownLogEntry, ownLogFor, readOwnLog, vouchedForReader } from './store-own-log.js';

/**
 * What a reader of some projects may read of the store (docs/SERVER.md "What a reader of some
 * projects sees"). A pack id is a content digest: listing one, or answering for it, confirms
 * that someone holds known bytes, so a pack is theirs to read only when a version they may read
 * uses it (deduplication shares one pack among versions of several projects: any of them
 * will do). A pushed workspace's audit bundle (`audit/<workspace>/`) is served whole to those who
 * see the whole log and to the account that pushed it; anyone else gets it redacted as the
 * server's own bundle is, keeping what `cairn pull` needs to vouch for versions (WORKSPACE_SHOWN).
 */
export interface StoreView {
  /** The store's state as this reader sees it (null: nothing pushed yet, or not asked for). */
  state: RemoteState | null;
  /** Keys (`packs/xx/<id>.pack`) of the packs the state's versions use. */
  packs: ReadonlySet<string>;
}

const STATE_KEY = 'meta/state.json';
const DESCRIPTOR_KEY = 'cairn-remote.json';
const PACK_KEY = /^packs\/[0-9a-f]{2}\/[0-9a-f]{64}\.pack$/;
const AUDIT_KEY = /^audit\/([0-9A-Za-z_-]{1,128})\/(.+)$/;

export const packKeyOf = (id: string) => `packs/${id.slice(0, 2)}/${id}.pack`;

/**
 * The state without the versions in `hidden` (`name@vN`: another project's run outputs), and
 * without what hangs only on them: their datasets when no other version is left, their tags,
 * reports and lineage edges, the model versions whose files they are (and such a model when no
 * other version of it is left), their evaluations, and the packs no kept version uses. Runs are
 * kept when their project is one the reader reads (`readsProject`) and every version they name
 * (inputs, output) is kept; a lineage edge naming a run, when that run is kept. The audit entries
 * stay: they are hashes, and a pull verifies every listed log. Pure.
 */
export function cutState(
  state: RemoteState,
  hidden: ReadonlySet<string>,
  readsProject: (project: string) => boolean = () => false,
): StoreView & { state: RemoteState } {
  const versions = shownVersions(state, hidden);
  const kept = new Set(versions.map((v) => v.id));
  const datasets = new Set(versions.map((v) => v.dataset_id));
  const packIds = new Set(versions.flatMap((v) => v.packs));
  // A model version's files are a dataset version: one registered from a hidden run output hangs
  // on it (a pull could only refuse it), and so does its model when no other version is left.
  const modelVersions = state.modelVersions.filter((v) => kept.has(v.files_version_id));
  const keptModelVersions = new Set(modelVersions.map((v) => v.id));
  const withVersions = new Set(state.modelVersions.map((v) => v.model_id));
  const keptModels = new Set(modelVersions.map((v) => v.model_id));
  const runs = state.runs.filter(
    (r) =>
      readsProject(r.project) &&
      (r.output_version_id === null || kept.has(r.output_version_id)) &&
      (runInputs(r)?.every((id) => kept.has(id)) ?? false),
  );
  const keptRuns = new Set(runs.map((r) => r.id));
  const named = (type: string, id: string) =>
    type === 'dataset_version'
      ? kept.has(id)
      : type === 'model_version'
        ? keptModelVersions.has(id)
        : type === 'run'
          ? keptRuns.has(id)
          : true;
  return {
    state: {
      ...state,
      versions,
      modelVersions,
      models: state.models.filter((m) => keptModels.has(m.id) || !withVersions.has(m.id)),
      datasets: state.datasets.filter((d) => datasets.has(d.id)),
      tags: state.tags.filter((t) => kept.has(t.version_id)),
      reports: state.reports.filter((r) => kept.has(r.version_id)),
      lineage: state.lineage.filter(
        (e) =>
          named(e.src_type, e.src_id) &&
          named(e.dst_type, e.dst_id) &&
          (e.via_type === null || e.via_id === null || named(e.via_type, e.via_id)),
      ),
      packs: state.packs.filter((p) => packIds.has(p.id)),
      runs,
      evaluations: state.evaluations.filter(
        (e) => keptModelVersions.has(e.version_id) && e.data_version_id !== null && kept.has(e.data_version_id),
      ),
    },
    packs: new Set([...packIds].map(packKeyOf)),
  };
}

/** The ids of the versions a run's stored spec names as its inputs (null: it does not parse). */
function runInputs(r: RemoteState['runs'][number]): string[] | null {
  try {
    const inputs = (JSON.parse(r.spec) as { inputs?: unknown }).inputs;
    if (!Array.isArray(inputs)) return null;
    const ids = inputs.map((i) => (i as { versionId?: unknown } | null)?.versionId);
    return ids.every((id): id is string => typeof id === 'string') ? ids : null;
  } catch {
    return null;
  }
}

function shownVersions(state: RemoteState, hidden: ReadonlySet<string>): RemoteState['versions'] {
  const names = new Map(state.datasets.map((d) => [d.id, d.name]));
  return state.versions.filter((v) => !hidden.has(`${names.get(v.dataset_id) ?? v.dataset_id}@v${v.number}`));
}

/** The keys of the packs the versions not in `hidden` use: cutState's `packs`, without building the cut state. Pure. */
export function readablePacks(state: RemoteState, hidden: ReadonlySet<string>): Set<string> {
  return new Set(shownVersions(state, hidden).flatMap((v) => v.packs.map(packKeyOf)));
}

/**
 * Actions whose events a reader of `default` sees in someone else's pushed log: those that
 * vouch for a version (transfer's collectVouchers), and key rotations (verifying needs them).
 * Everything else a workspace records — its runs (of any project, which the server cannot
 * place), its models, who did what — is left as a leaf hash. The actor is not what decides, as
 * it is in the server's own log: a workspace names its actors itself.
 */
const WORKSPACE_SHOWN = new Set([
  'dataset.version.create',
  'dataset.clean',
  'dataset.split',
  'remote.pull',
  'workspace.clone',
  'keys.rotate',
]);

/**
 * Whether a reader of `default` who did not push a workspace sees one of its events (`readsProject`:
 * whether they read a project, which an import event's runs name). Pure.
 */
export function workspaceEventVisible(
  event: unknown,
  outputs: HiddenOutputs,
  readsProject: (project: string) => boolean = () => false,
): boolean {
  const e = (event ?? {}) as { action?: unknown; target?: { type?: unknown; name?: unknown; version?: unknown } };
  if (typeof e.action !== 'string' || !WORKSPACE_SHOWN.has(e.action)) return false;
  if (!importShown(event, outputs, readsProject)) return false;
  const name = e.target?.name;
  // The same rule as the server's log: another project's run outputs stay hidden.
  if (typeof name === 'string' && outputs.datasets.has(name))
    return typeof e.target?.version === 'number' && !outputs.refs.has(`${name}@v${e.target.version}`);
  return true;
}

/**
 * Whether a listed key is shown to a reader of some projects, and at the size listed: the state
 * and a bundle's entries are served cut or redacted, so their stored sizes are not theirs (and
 * are read whole, never listed, by clients). The server's bookkeeping (owners/, uploaders/,
 * incoming/, proposals/) is nobody's to list.
 */
export function listedKey(key: string, view: StoreView, wholeLog: boolean): boolean {
  if (PACK_KEY.test(key)) return view.packs.has(key);
  if (key === DESCRIPTOR_KEY) return true;
  const audit = AUDIT_KEY.exec(key);
  if (audit) return wholeLog || audit[2] !== 'entries.jsonl';
  return false;
}

/** The answer for an object a reader may not read: the one for an object the store lacks. */
export function noObject(key: string): CairnError {
  return new CairnError('NOT_FOUND', `the store has no object ${key}`, { data: { key } });
}

/**
 * The store as `r` sees it; null for a reader of every project (who sees it whole). Listings,
 * plans and downloads need only the packs (`stateFor` cuts the state itself), and those are kept
 * per store for the state's bytes and the hidden versions they were cut for (a push plans one
 * request per pack: parsing a large state for each would cost the server more than the push).
 */
export async function storeView(rt: ServerRuntime, store: ServerStore, r: Reader): Promise<StoreView | null> {
  if (r.readable.all) return null;
  // A reader of no `default` reads none of the store (the routes already refuse them).
  if (!mayRead(r, 'default')) return { state: null, packs: new Set() };
  let bytes: Buffer;
  try {
    // What the store shows clients: the versions the server imported (vouched by a verified log).
    bytes = await store.readObject(STATE_KEY);
  } catch (err) {
    if (isCairnError(err, 'NOT_FOUND')) return { state: null, packs: new Set() };
    throw err;
  }
  const hidden = (await hiddenOutputs(rt.services, r)).refs;
  const key = createHash('sha256')
    .update(bytes)
    .update(JSON.stringify([...hidden].sort()))
    .digest('hex');
  const kept = memo.get(store);
  if (kept?.key === key) return { state: null, packs: kept.packs };
  const packs = readablePacks(parseState(bytes), hidden);
  memo.set(store, { key, packs });
  return { state: null, packs };
}

/** The last pack set computed per store, by the digest of the state's bytes and of the hidden versions. */
const memo = new WeakMap<ServerStore, { key: string; packs: ReadonlySet<string> }>();

/**
 * One object of the layout, read by `r` (GET /api/v1/store/objects/<key>; `scope`: the request's).
 * The state comes as the server serves it (its evaluations, its own log's entry: `servedState`),
 * and `audit/<the server's workspace>/` is the server's own log (store-own-log.ts). What is
 * served as stored (packs, the descriptor, a bundle's file read whole) is streamed from the
 * store; only what is rewritten for the reader (the state, a pushed log redacted) is built whole.
 */
export async function readObjectAs(
  rt: ServerRuntime,
  store: ServerStore,
  r: Reader,
  key: string,
  scope: RequestScope,
): Promise<Buffer | Readable | StoredObject> {
  const audit = AUDIT_KEY.exec(key);
  if (audit && audit[1] === rt.workspaceId) return readOwnLog(rt, store, r, scope, audit[2]!);
  if (key === STATE_KEY) return stateFor(rt, store, r, scope);
  const view = await storeView(rt, store, r);
  if (!view) return store.openObject(key);
  if (key === DESCRIPTOR_KEY) return store.openObject(key);
  if (PACK_KEY.test(key)) {
    if (!view.packs.has(key)) throw noObject(key);
    return store.openObject(key);
  }
  if (!audit) throw noObject(key);
  if (audit[2] !== 'entries.jsonl' || r.wholeLog || (await pusherOf(store, audit[1]!)) === r.name)
    return store.openObject(key);
  const outputs = await hiddenOutputs(rt.services, r);
  const shown = (e: unknown) => workspaceEventVisible(e, outputs, (p) => mayRead(r, p));
  return Readable.from(redactedLines((await store.openObject(key)).body, shown), { objectMode: false });
}

/**
 * A log's lines redacted for a reader as they stream from the store (each line redacts alone):
 * what it holds is a slice and the line it cuts, not the log (read whole and parsed, a 128 MiB
 * log cost 483 MiB more RSS; docs/SERVER.md "Answer memory").
 */
export async function* redactedLines(
  body: AsyncIterable<Buffer | string>,
  shown: (event: unknown) => boolean,
): AsyncGenerator<Buffer> {
  const utf8 = new StringDecoder('utf8');
  let rest = '';
  for await (const chunk of body) {
    const text = rest + (typeof chunk === 'string' ? chunk : utf8.write(chunk));
    const cut = text.lastIndexOf('\n');
    if (cut < 0) {
      rest = text;
      continue;
    }
    rest = text.slice(cut + 1);
    yield Buffer.from(redactLines(parseEntries(text.slice(0, cut + 1)), shown).text);
  }
  rest += utf8.end();
  if (rest) yield Buffer.from(redactLines(parseEntries(rest), shown).text);
}

/**
 * The state `r` reads: whole, or cut to what they may read and to what their share of the
 * server's log vouches for; with the entry of the server's log. The rows come first, then the
 * export (made now, or the latest if it was made for these very rows): every row the state
 * names was committed with its event before it.
 */
async function stateFor(rt: ServerRuntime, store: ServerStore, r: Reader, scope: RequestScope): Promise<Buffer> {
  // A reader of no `default` reads none of the store (the routes already refuse them).
  if (!r.readable.all && !mayRead(r, 'default')) throw noObject(STATE_KEY);
  let bytes: Buffer;
  try {
    bytes = await store.readObject(STATE_KEY);
  } catch (err) {
    if (isCairnError(err, 'NOT_FOUND') && !r.readable.all) throw noObject(STATE_KEY);
    throw err;
  }
  const whole = parseState(bytes);
  const rows = r.readable.all
    ? whole
    : cutState(whole, (await hiddenOutputs(rt.services, r)).refs, (p) => mayRead(r, p)).state;
  const log = await ownLogFor(rt, store, whole);
  const state = r.readable.all ? rows : await vouchedForReader(rt, store, r, scope, rows, log);
  return Buffer.from(JSON.stringify(servedState(state, { evaluations: state.evaluations, ownLog: ownLogEntry(log) })));
}

/** The account that pushed a workspace's log (owners/<workspace>.json), or null. */
async function pusherOf(store: ServerStore, workspace: string): Promise<string | null> {
  try {
    const o = JSON.parse((await store.readObject(`owners/${workspace}.json`)).toString('utf8')) as {
      account?: unknown;
    };
    return typeof o.account === 'string' ? o.account : null;
  } catch {
    return null;
  }
}
