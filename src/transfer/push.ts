import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { exportBundle } from '../audit/export/bundle.js';
import { CairnError, ioError } from '../core/errors.js';
import type { KnownCheckpoint } from '../audit/log/kept-checkpoint.js';
import { Frontier, leafHashOfText } from '../audit/merkle/index.js';
import { isoUtc } from '../core/time.js';
import { resolveVersion } from '../datasets/index.js';
import { treeLoader } from '../datasets/index.js';
import { acquireShared } from '../storage/locks/locks.js';
import { presentKeys } from './crypto/encrypted-backend.js';
import { DEFAULT_JOBS, type TransferDeps, type TransferOptions } from './deps.js';
import { openRemote, type OpenedRemote } from './open-remote.js';
import { pickRemote } from './remotes-file.js';
import {
  auditCheckpointKey,
  auditPrefix,
  checkDescriptor,
  packKey,
  readRemoteCheckpoint,
  readState,
  writeState,
} from './remote-layout.js';
import { runTransfers } from './runner.js';
import { divergedError, emptyState, mergeState, type RemoteState } from './state.js';
import { localState } from './state-db.js';

export interface PushResult {
  remote: string;
  url: string;
  versions: number;
  /** The pushed versions' digests (`sha256:…`). */
  digests: string[];
  /** The model versions pushed with their files (`name@vN`): those whose files version is among the pushed. */
  models: string[];
  /** The finished runs pushed (ids): every one on a whole push, else those whose output version is pushed. */
  runs: string[];
  packs: { needed: number; sent: number; skipped: number };
  bytesSent: number;
  audit: { size: number; root: string };
  encrypted: boolean;
  /** When the remote is a team server (set by app/): what the server imported after the push. */
  server?: {
    imported: { datasets: number; versions: number; modelVersions?: number; runs?: number };
    vouched: number;
    skipped: number;
    /** Model versions the server refused (no verified event vouches for exactly them), with why. */
    skippedModels?: Array<{ model: string; number: number; digest: string; why: string }>;
    /** Runs the server refused (no verified event vouches for exactly them, or their versions are missing), with why. */
    skippedRuns?: Array<{ run: string; name: string; status: string; why: string }>;
  };
}

/**
 * Uploads the packs the remote lacks for the chosen versions (all when none are named), then
 * the merged metadata state, then this workspace's audit log as a self-verifying bundle. The
 * remote is asked what it holds first, so a push that was killed re-sends only what was in
 * flight. Conflicting versions are refused before anything is sent.
 */
export async function push(
  deps: TransferDeps,
  refs: readonly string[],
  opts: TransferOptions = {},
): Promise<PushResult> {
  const { name, config } = pickRemote(deps.remotes.load(), opts.remote);
  const r = await openRemote(deps, config, opts.onRetry ? { onRetry: opts.onRetry } : {});
  // gc must not delete a pack while it is being read for upload.
  const lock = acquireShared(deps.locksDir, 'push');
  try {
    const versionIds = refs.length
      ? await Promise.all(refs.map(async (ref) => (await resolveVersion(deps.meta.db, ref)).version.id))
      : null;
    const result = await deps.audit.audited(
      { action: 'remote.push', target: { type: 'remote', name }, params: { url: r.plain.url, refs: [...refs] } },
      async (commit, draft) => {
        await checkDescriptor(r, { now: isoUtc(deps.clock.now()) });
        const local = await localState(deps.meta.db, versionIds, treeLoader(deps));
        const read = await readState(r.data);
        const remoteState = read ?? emptyState();
        // Every remote is a witness of this log: what was pushed here before must be a prefix of
        // what goes up now (a consistency proof), or nothing is sent.
        const theirs = await readRemoteCheckpoint(r.data, deps.workspaceId, read);
        const witnessed = theirs ? await deps.audit.witness(theirs, `on remote ${name}`) : null;
        const merged = mergeState(remoteState, local);
        if (merged.conflicts.length) throw divergedError(merged.conflicts, name, 'push');
        const { missing, total } = await uploadPacks(deps, r, local.packs, {
          jobs: opts.jobs ?? config.jobs ?? DEFAULT_JOBS,
          bwlimit: opts.bwlimit ?? config.bwlimit,
          progress: opts.progress,
        });
        // Metadata after the packs: a reader of the state finds every pack it names.
        await writeState(r.data, merged.state);
        const modelNames = new Map(local.models.map((m) => [m.id, m.name]));
        const out = {
          versions: local.versions.length,
          digests: local.versions.map((v) => `sha256:${v.digest}`),
          models: local.modelVersions.map((m) => `${modelNames.get(m.model_id) ?? m.model_id}@v${m.number}`),
          runs: local.runs.map((x) => x.id),
          packs: { needed: local.packs.length, sent: missing.length, skipped: local.packs.length - missing.length },
          bytesSent: total,
        };
        const { digests: _d, models: _m, runs: _r, ...counts } = out;
        draft.params = {
          ...draft.params,
          ...counts,
          versionDigests: local.versions.map((v) => `sha256:${v.digest}`),
          ...(out.models.length ? { models: out.models } : {}),
          ...(out.runs.length ? { runs: out.runs } : {}),
        };
        draft.outputs = local.versions.map((v) => `sha256:${v.digest}`);
        await commit(async () => {});
        return { out, merged: merged.state, witnessed };
      },
    );
    // The log that travels includes the push event just recorded.
    const audit = await uploadAuditLog(deps, r, result.witnessed);
    const withAudit = withOwnLogEntry(deps, result.merged, audit);
    await writeState(r.data, withAudit.state);
    return { remote: name, url: r.plain.url, ...result.out, audit, encrypted: r.encrypted };
  } finally {
    lock.release();
    await r.close();
  }
}

/** Uploads the packs the remote lacks (or holds at another size), in parallel. */
export async function uploadPacks(
  deps: TransferDeps,
  r: OpenedRemote,
  packs: ReadonlyArray<{ id: string; size: number }>,
  opts: { jobs: number; bwlimit: number | undefined; progress: TransferOptions['progress'] },
): Promise<{ missing: Array<{ id: string; size: number }>; total: number }> {
  const keys = packs.map((p) => packKey(p.id));
  const present = await presentKeys(r.data, 'packs/', keys);
  const missing = packs.filter((p) => present.get(packKey(p.id)) !== p.size);
  const total = missing.reduce((n, p) => n + p.size, 0);
  let sent = 0;
  opts.progress?.update(0, total, `${missing.length} pack(s)`);
  await runTransfers(
    missing.map((p) => ({
      bytes: p.size,
      run: async () => {
        const path = deps.packs.packPath(p.id);
        const body = await fsp.readFile(path).catch((err: unknown) => {
          throw ioError(err, 'read', path);
        });
        await r.data.put(packKey(p.id), body);
      },
    })),
    {
      jobs: opts.jobs,
      ...(opts.bwlimit ? { bwlimit: opts.bwlimit } : {}),
      onBytes: (n) => opts.progress?.update((sent += n), total),
    },
  );
  return { missing, total };
}

/** `state` naming this workspace's log as just uploaded (its size and root) at its place on the remote. */
export function withOwnLogEntry(deps: TransferDeps, state: RemoteState, audit: { size: number; root: string }) {
  const entry = {
    workspace: deps.workspaceId,
    origin: deps.audit.keys.origin,
    size: audit.size,
    root: audit.root,
    key: auditPrefix(deps.workspaceId),
  };
  return mergeState(state, { ...emptyState(), audit: [entry] });
}

/** Exports this workspace's log and uploads every file of the bundle under audit/<workspace>/. */
export async function uploadAuditLog(
  deps: TransferDeps,
  r: OpenedRemote,
  witnessed: KnownCheckpoint | null,
): Promise<{ size: number; root: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-audit-push-'));
  try {
    const bundle = join(dir, 'bundle');
    const exported = await exportBundle(deps.meta.db, deps.audit, bundle);
    checkBundleExtends(join(bundle, 'entries.jsonl'), exported, witnessed);
    const files: string[] = [];
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        const p = join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (statSync(p).isFile()) files.push(p);
      }
    };
    walk(bundle);
    const prefix = auditPrefix(deps.workspaceId);
    // Signed checkpoints never change once written: only new ones go up, so a long-lived
    // workspace does not re-send one object per checkpoint on every push.
    const keyOf = (f: string) => `${prefix}${relative(bundle, f).split('\\').join('/')}`;
    const notes = files.filter((f) => /\/checkpoints\/\d+\.note$/.test(f.split('\\').join('/')));
    const have = await presentKeys(r.data, `${prefix}checkpoints/`, notes.map(keyOf));
    const changed = files.filter((f) => !notes.includes(f) || have.get(keyOf(f)) !== statSync(f).size);
    await runTransfers(
      changed.map((f) => ({
        bytes: statSync(f).size,
        run: () => r.data.put(`${prefix}${relative(bundle, f).split('\\').join('/')}`, readFileSync(f)),
      })),
      { jobs: DEFAULT_JOBS },
    );
    // The file list, so a reader (and an encrypted remote, which cannot be listed) finds them all.
    await r.data.put(
      `${prefix}files.json`,
      Buffer.from(JSON.stringify(files.map((f) => relative(bundle, f).split('\\').join('/')).sort())),
    );
    // Last, the checkpoint the next push must extend (written after the bundle it covers).
    const latest = await deps.audit.latestCheckpoint();
    if (latest && latest.size === exported.size)
      await r.data.put(auditCheckpointKey(deps.workspaceId), Buffer.from(latest.note));
    return { size: exported.size, root: exported.root };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The check before sending was over the stored tree; this one is over the exact entry bytes
 * that travel: they must hash to the remote's last checkpoint at its size and to the exported
 * root at theirs. Otherwise nothing of the log goes up (AUDIT_INCONSISTENT).
 */
function checkBundleExtends(
  entriesFile: string,
  exported: { size: number; root: string },
  witnessed: KnownCheckpoint | null,
): void {
  const text = readFileSync(entriesFile, 'utf8');
  const lines = text.length ? text.replace(/\n$/, '').split('\n') : [];
  const f = new Frontier();
  const refuse = (why: string) =>
    new CairnError('AUDIT_INCONSISTENT', `refusing to push the audit log: ${why}`, {
      hint: 'run `cairn audit verify` to find the changed entries',
    });
  for (const line of lines) {
    f.append(leafHashOfText(line));
    if (witnessed && f.size === witnessed.size && f.root().toString('hex') !== witnessed.root)
      throw refuse(`its first ${witnessed.size} entries no longer hash to the checkpoint ${witnessed.where}`);
  }
  if (witnessed && f.size < witnessed.size)
    throw refuse(`it has ${f.size} entries, fewer than the checkpoint ${witnessed.where} covers (${witnessed.size})`);
  if (f.size !== exported.size || f.root().toString('hex') !== exported.root)
    throw refuse('its entries do not hash to its own latest checkpoint');
}
