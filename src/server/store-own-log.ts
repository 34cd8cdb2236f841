import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { RequestScope, ServerRuntime } from '../app/server.js';
import { sha256Hex } from '../core/digest.js';
import { CairnError } from '../core/errors.js';
import { collectEvaluationVouchers, collectRunVouchers, type RemoteState } from '../transfer/index.js';
import { redactEntries, type Reader } from './read-scope.js';
import { inTempFolder } from './temp-files.js';

/**
 * The server's own audit log as its store serves it (docs/SERVER.md "What a pull from the server
 * brings"): `audit/<server workspace>/` beside the logs pushed there, so a pull verifies it like any
 * other and its events vouch for what the server did itself (the evaluations it ran) and for what
 * it imported as the pushing account (runs and evaluations, with that account as their author).
 * It is exported when a client reads the state and again when it reads the bundle's file list, and
 * each account is served its own latest export: the state names a prefix of what the bundle holds.
 */
export interface OwnLog {
  workspace: string;
  origin: string;
  size: number;
  root: string;
  /** The bundle's files by relative path, `files.json` (their list) included. */
  files: ReadonlyMap<string, Buffer>;
}

/**
 * The latest export per account, the last few accounts only: what `audit/<workspace>/…` serves
 * the account after its read of the state, so that the entry the state named, the file list and
 * every file are of one export (two exports differ in `log.json` and the proofs: a bundle mixed
 * from two does not verify).
 */
const latest = new WeakMap<ServerRuntime, Map<string, OwnLog>>();
const KEPT_ACCOUNTS = 16;

/**
 * Exports the server's log, by an export that starts after this call (so it holds every event
 * committed before), and keeps it as what `audit/<workspace>/…` serves `who`. Callers share
 * exports: while one runs, every caller waits for the one after it, so a viewer's parallel reads
 * make at most two exports at once (each read made its own: 24 parallel reads held 12 copies of
 * the whole log in memory, test/attack/own-log-export-flood.test.ts).
 */
export async function exportOwnLog(rt: ServerRuntime, who: string): Promise<OwnLog> {
  let f = flights.get(rt);
  if (!f) flights.set(rt, (f = { running: null, next: null }));
  const flight = f;
  const start = (): Promise<OwnLog> => {
    const p = exportNow(rt).finally(() => {
      if (flight.running === p) flight.running = null;
    });
    flight.running = p;
    return p;
  };
  let log: Promise<OwnLog>;
  if (!flight.running) log = start();
  else {
    flight.next ??= flight.running
      .catch(() => undefined)
      .then(() => {
        flight.next = null;
        return start();
      });
    log = flight.next;
  }
  return keep(rt, who, await log);
}

/** The export running now per server, and the one that starts when it ends (shared by its waiters). */
const flights = new WeakMap<ServerRuntime, { running: Promise<OwnLog> | null; next: Promise<OwnLog> | null }>();

async function exportNow(rt: ServerRuntime): Promise<OwnLog> {
  return inTempFolder('cairn-own-log-', async (dir) => {
    const done = await rt.services.audit.export(dir);
    const files = new Map<string, Buffer>();
    for (const f of await readdir(dir, { recursive: true, withFileTypes: true })) {
      if (!f.isFile()) continue;
      const full = join(f.parentPath, f.name);
      files.set(relative(dir, full).split('\\').join('/'), await readFile(full));
    }
    files.set('files.json', Buffer.from(JSON.stringify([...files.keys()].sort())));
    return { workspace: rt.workspaceId, origin: rt.origin, size: done.size, root: done.root, files };
  });
}

function keep(rt: ServerRuntime, who: string, log: OwnLog): OwnLog {
  let kept = latest.get(rt);
  if (!kept) latest.set(rt, (kept = new Map()));
  kept.delete(who);
  kept.set(who, log);
  for (const oldest of kept.keys()) {
    if (kept.size <= KEPT_ACCOUNTS) break;
    kept.delete(oldest);
  }
  return log;
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
 * One file of the server's log bundle, as `r` may read it: `entries.jsonl` with the events they
 * may not see as leaf hashes, as `GET /audit/bundle` serves it. The list is exported anew; every
 * other file comes from the account's latest export, so one download reads one export.
 */
export async function readOwnLog(rt: ServerRuntime, r: Reader, scope: RequestScope, file: string): Promise<Buffer> {
  // A pull reads the list first: a fresh export then, so the files it reads next (from this
  // account's export) are at least what any state it read named, on whichever process served it.
  const kept = file === 'files.json' ? undefined : latest.get(rt)?.get(r.name);
  const log = kept ?? (await exportOwnLog(rt, r.name));
  const body = log.files.get(file);
  if (!body)
    throw new CairnError('NOT_FOUND', `the store has no object audit/${log.workspace}/${file}`, {
      data: { key: `audit/${log.workspace}/${file}` },
    });
  if (file !== 'entries.jsonl' || r.wholeLog) return body;
  return Buffer.from((await redactEntries(rt, scope, r, body.toString('utf8'))).text);
}

/**
 * The state cut for a reader of some projects, less the runs and evaluations that no event of
 * their share of the server's log vouches for: an import event that names another project's run
 * is withheld from them whole (read-scope.ts), and what it alone vouched for would only come back
 * refused — naming another project's run, or refusing their whole pull (an evaluation).
 */
export async function vouchedForReader(
  rt: ServerRuntime,
  r: Reader,
  scope: RequestScope,
  state: RemoteState,
  log: OwnLog,
): Promise<RemoteState> {
  const text = (await redactEntries(rt, scope, r, log.files.get('entries.jsonl')?.toString('utf8') ?? '')).text;
  const entries = text.length ? text.replace(/\n$/, '').split('\n') : [];
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
