import type { OptionsOf } from '../table/define.js';
import type { clone } from './commands.js';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { initWorkspace } from '../../app/workspace.js';
import { CairnError } from '../../core/errors.js';
import { cloneInto } from '../../transfer/clone.js';
import { parseRemoteKey, saveRemoteKey } from '../../transfer/crypto/remote-keys.js';
import { remoteConfigFrom } from '../../transfer/remote-admin.js';
import { saveRemotes } from '../../transfer/remotes-file.js';
import { commandContext } from '../context.js';
import { warnUnvouched } from './unvouched.js';

export async function run(url: string, dir: string, opts: OptionsOf<typeof clone>): Promise<void> {
  const ctx = commandContext(opts);
  const root = resolve(dir);
  if (existsSync(root) && readdirSync(root).length > 0)
    throw new CairnError('ALREADY_EXISTS', `${root} exists and is not empty`, {
      hint: 'clone into a new or empty directory',
    });
  const { config } = remoteConfigFrom(url, { ...opts, keyFile: undefined });
  const key = opts.keyFile ? parseRemoteKey(readFileSync(opts.keyFile, 'utf8')) : undefined;
  const createdRoot = !existsSync(root);
  const ws = await initWorkspace(root, { command: 'clone' });
  let ok = false;
  try {
    if (key) config.keyId = await saveRemoteKey(ws.cairnDir, key);
    await saveRemotes(ws.cairnDir, { version: 1, default: opts.name, remotes: { [opts.name]: config } });
    const r = await cloneInto(
      { ...ws, workspaceId: ws.config.workspace.id },
      { name: opts.name, config },
      key ? { key } : {},
    );
    ok = true;
    ctx.out.result({ ...r, dir: root });
    ctx.out.say(
      `cloned ${r.url} into ${root}: ${r.versions} version(s) of ${r.datasets} dataset(s) (data stays remote until \`cairn pull\`)`,
    );
    for (const l of r.auditLogs)
      ctx.out.say(
        `verified the audit log of workspace ${l.workspace}: ${l.size} event(s), root ${l.root.slice(0, 16)}…, signed by ${l.verifierKey} (compare it with the key that workspace printed at \`cairn init\`)`,
      );
    warnUnvouched(ctx, opts.name, r.skipped);
  } finally {
    await ws.close();
    // A failed clone leaves nothing behind that looks like a workspace.
    if (!ok) rmSync(createdRoot ? root : resolve(root, '.cairn'), { recursive: true, force: true });
  }
}
