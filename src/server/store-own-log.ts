import { Readable } from 'node:stream';
import type { RequestScope, ServerRuntime } from '../app/server.js';
import type { ServerStore } from '../app/server-store.js';
import { sha256Hex } from '../core/digest.js';
import { collectEvaluationVouchers, collectRunVouchers, type RemoteState } from '../transfer/index.js';
import {
  fileList,
  latestExport,
  manifestOf,
  noFile,
  partsOf,
  pinExport,
  pinnedExport,
  publishExport,
  type ExportHead,
  type Manifest,
} from './own-log-exports.js';
import { redactEntries, type Reader } from './read-scope.js';
import { inTempFolder } from './temp-files.js';

/**
 * The server's own audit log as its store serves it (docs/SERVER.md "What a pull from the server
 * brings"): `audit/<server workspace>/` beside the logs pushed there, so a pull verifies it like any
 * other and its events vouch for what the server did itself (the evaluations it ran) and for what
 * it imported as the pushing account (runs and evaluations, with that account as their author).
 *
 * One export serves every account and every server process: it lies in the store
 * (own-log-exports.ts) and is made anew only when the state served has changed since the latest
 * was made (an import, an evaluation) — reads, the bulk of the log, leave the state as it was, so
 * a pull names the same export until something it could vouch for happens.
 */
export type OwnLog = ExportHead;

/**
 * The export a state names: the latest, if it was made after a state with these very rows was
 * read (then every row in it had its event committed before the export), or a new one. `state`
 * is the stored state as parsed, read before the rows as `stateFor` does. Its generation is left
 * out of the digest: an import that only adds to the stored state what the served one already
 * listed (the runs the server trained) moves the generation alone, and the rows — what the
 * export must cover — are the same.
 */
export async function ownLogFor(rt: ServerRuntime, store: ServerStore, state: object): Promise<OwnLog> {
  const digest = sha256Hex(JSON.stringify({ ...state, generation: null }));
  const latest = await latestExport(store.own);
  if (latest?.state === digest && latest.workspace === rt.workspaceId) return latest;
  return exportNow(rt, store, digest);
}

/** A new export made for the served state whose digest is `state`, unless one was made for it meanwhile. */
function exportNow(rt: ServerRuntime, store: ServerStore, state: string): Promise<OwnLog> {
  return store.own.exclusive(async () => {
    // Another process may have exported for these bytes while this one waited for the lock.
    const now = await latestExport(store.own);
    if (now?.state === state && now.workspace === rt.workspaceId) return now;
    return inTempFolder('cairn-own-log-', async (dir) => {
      const done = await rt.services.audit.export(dir);
      const head: ExportHead = {
        workspace: rt.workspaceId,
        origin: rt.origin,
        size: done.size,
        root: done.root,
        state,
        created: Date.now(),
      };
      // An export of this size is already there (no event since it): it serves these bytes too.
      if (await manifestOf(store.own, done.size)) {
        await store.own.put('latest.json', Buffer.from(JSON.stringify(head)));
        return head;
      }
      await publishExport(store.own, dir, head, head.created);
      return head;
    });
  });
}

/** The state's entry for the server's log: where it lies in the store, its size and root. */
export function ownLogEntry(log: OwnLog): RemoteState['audit'][number] {
  return {
    workspace: log.workspace,
    origin: log.origin,
    size: log.size,
    root: log.root,
    key: `audit/${log.workspace}/`,
  };
}

/**
 * One file of the server's log bundle, as `r` may read it, streamed a part at a time:
 * `entries.jsonl` with the events they may not see as leaf hashes, as `GET /audit/bundle` serves
 * it. The list comes from the latest export, which is then pinned for `r` in the store; every
 * other file comes from the pinned export, so one download reads one export on whichever
 * process serves each request.
 */
export async function readOwnLog(
  rt: ServerRuntime,
  store: ServerStore,
  r: Reader,
  scope: RequestScope,
  file: string,
): Promise<Buffer | Readable> {
  if (file === 'files.json') {
    // Read before any state (nothing names an export yet): one made now, for no state.
    const latest = (await latestExport(store.own)) ?? (await exportNow(rt, store, ''));
    const m = await manifestOf(store.own, latest.size);
    if (!m) throw noFile(rt.workspaceId, file);
    await pinExport(store.own, r.name, m.size);
    return fileList(m);
  }
  const pinned = await pinnedExport(store.own, r.name);
  const size = pinned ?? (await latestExport(store.own))?.size;
  const m = size === undefined ? null : await manifestOf(store.own, size);
  if (!m) throw noFile(rt.workspaceId, file, pinned === null ? '' : ' (the export this pull listed is gone)');
  if (!m.files.some((f) => f.path === file)) throw noFile(rt.workspaceId, file);
  const parts = partsOf(store.own, m, file);
  if (file !== 'entries.jsonl' || r.wholeLog) return Readable.from(parts, { objectMode: false });
  return Readable.from(redacted(rt, scope, r, parts), { objectMode: false });
}

/** Each part of `entries.jsonl` redacted for `r` (a part ends at a line end, so it redacts alone). */
async function* redacted(
  rt: ServerRuntime,
  scope: RequestScope,
  r: Reader,
  parts: AsyncIterable<Buffer>,
): AsyncGenerator<Buffer> {
  for await (const part of parts) yield Buffer.from((await redactEntries(rt, scope, r, part.toString('utf8'))).text);
}

/**
 * The state cut for a reader of some projects, less the runs and evaluations that no event of
 * their share of the server's log vouches for: an import event that names another project's run
 * is withheld from them whole (read-scope.ts), and what it alone vouched for would only come back
 * refused — naming another project's run, or refusing their whole pull (an evaluation). Their
 * share is read a part at a time; the lines shown are held while the vouchers are collected.
 */
export async function vouchedForReader(
  rt: ServerRuntime,
  store: ServerStore,
  r: Reader,
  scope: RequestScope,
  state: RemoteState,
  log: OwnLog,
): Promise<RemoteState> {
  const m: Manifest | null = await manifestOf(store.own, log.size);
  if (!m) throw noFile(log.workspace, 'entries.jsonl');
  const entries: string[] = [];
  for await (const part of redacted(rt, scope, r, partsOf(store.own, m, 'entries.jsonl'))) {
    const text = part.toString('utf8');
    if (text.length) for (const line of text.replace(/\n$/, '').split('\n')) entries.push(line);
  }
  const at = { workspace: log.workspace, origin: log.origin };
  const runs: Parameters<typeof collectRunVouchers>[0] = new Map();
  collectRunVouchers(runs, at, entries.slice(0, log.size));
  const reports: Parameters<typeof collectEvaluationVouchers>[0] = new Map();
  collectEvaluationVouchers(reports, at, entries.slice(0, log.size));
  return {
    ...state,
    runs: state.runs.filter((x) => runs.has(x.id)),
    evaluations: state.evaluations.filter((e) => reports.has(`sha256:${sha256Hex(e.report)}`)),
  };
}
