import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { verifyBundle } from '../audit/export/bundle.js';
import { CairnError } from '../core/errors.js';
import type { TransferDeps } from './deps.js';
import { openRemote } from './open-remote.js';
import { checkDescriptor, readState } from './remote-layout.js';
import { assertKey } from './backends/keys.js';
import type { RemoteBackend } from './backends/port.js';
import { importState } from './state-db.js';
import type { RemoteConfig } from './remotes-file.js';

export interface CloneResult {
  remote: string;
  url: string;
  datasets: number;
  versions: number;
  auditLogs: Array<{ workspace: string; origin: string; size: number; root: string; ok: true }>;
}

/**
 * Fills a freshly initialized workspace from a remote: the metadata of every version (data
 * stays remote until `cairn pull`), and every audit log the remote carries, each verified on
 * its own (signatures, checkpoints, proofs) before anything is imported and kept under
 * `.cairn/remote-audit/<remote>/<workspace>/`. The workspace's own log then starts with the
 * clone event, which names the logs it verified by size and root hash.
 */
export async function cloneInto(deps: TransferDeps, remote: { name: string; config: RemoteConfig }, opts: { key?: Buffer } = {}): Promise<CloneResult> {
  const r = await openRemote(deps.cairnDir, remote.config, opts.key ? { key: opts.key } : {});
  try {
    return await deps.audit.audited({ action: 'workspace.clone', target: { type: 'remote', name: remote.name }, params: { url: r.plain.url } }, async (commit, draft) => {
      await checkDescriptor(r, null);
      const state = await readState(r.data);
      if (!state) throw new CairnError('NOT_FOUND', `${r.plain.url} holds no metadata yet`, { hint: 'push to it first' });
      const logs: CloneResult['auditLogs'] = [];
      for (const a of state.audit) {
        const dir = join(deps.cairnDir, 'remote-audit', remote.name, a.workspace);
        await downloadBundle(r.data, a.key, dir);
        const report = await verifyBundle(dir);
        if (!report.ok || report.size < a.size || report.root !== a.root) {
          rmSync(dir, { recursive: true, force: true });
          throw new CairnError('CHECK_FAILED', `the audit log of workspace ${a.workspace} on ${r.plain.url} does not verify${report.firstBad ? `: ${report.firstBad.message}` : report.root !== a.root ? ' (its root is not the one the remote state records)' : ''}`, {
            data: { workspace: a.workspace, problems: report.problems.slice(0, 10) },
            hint: 'the remote was tampered with or damaged; nothing was imported',
          });
        }
        logs.push({ workspace: a.workspace, origin: a.origin, size: report.size, root: report.root, ok: true });
      }
      const n = await commit(async (tx) => {
        const counts = await importState(tx, state);
        draft.params = { ...draft.params, datasets: counts.datasets, versions: counts.versions, auditLogs: logs.map(({ ok: _ok, ...l }) => l) };
        return counts;
      });
      return { remote: remote.name, url: r.plain.url, datasets: n.datasets, versions: n.versions, auditLogs: logs };
    });
  } finally {
    await r.close();
  }
}

/** Downloads an audit bundle by its file list (an encrypted remote cannot be listed). */
async function downloadBundle(b: RemoteBackend, prefix: string, dir: string): Promise<void> {
  let files: string[];
  try {
    files = JSON.parse((await b.get(`${prefix}files.json`)).toString('utf8')) as string[];
  } catch (err) {
    if (err instanceof CairnError) throw err;
    throw new CairnError('CORRUPT_OBJECT', `${prefix}files.json on the remote is not a file list`);
  }
  if (!Array.isArray(files) || files.some((f) => typeof f !== 'string')) throw new CairnError('CORRUPT_OBJECT', `${prefix}files.json on the remote is not a file list`);
  rmSync(dir, { recursive: true, force: true });
  for (const f of files) {
    // The list comes from the remote: a name like ../../x must not write outside the bundle.
    const rel = assertKey(f);
    const dest = join(dir, ...rel.split('/'));
    mkdirSync(dirname(dest), { recursive: true });
    writeFileSync(dest, await b.get(`${prefix}${rel}`));
  }
}
