import type { OptionsOf } from '../table/define.js';
import type { init } from './commands.js';
import { initWorkspace } from '../../app/workspace.js';
import { ignoreWorkspaceInGit } from '../../compute/index.js';
import { commandContext } from '../context.js';

export async function run(dir: string | undefined, opts: OptionsOf<typeof init>): Promise<void> {
  const { out } = commandContext(opts);
  const ws = await initWorkspace(dir ?? '.', {
    command: 'init',
    ...(opts.metadataUrl ? { metadataUrl: opts.metadataUrl } : {}),
  });
  try {
    // Inside git, keep .cairn/ out of it (and out of the run key's "uncommitted changes").
    let gitignore: ReturnType<typeof ignoreWorkspaceInGit> | 'failed';
    try {
      gitignore = ignoreWorkspaceInGit(ws.root);
    } catch (err) {
      gitignore = 'failed';
      out.note(`cairn: could not add .cairn/ to ${ws.root}/.gitignore (${(err as Error).message}); add it yourself`);
    }
    const result = {
      workspace: ws.root,
      id: ws.config.workspace.id,
      metadata: ws.meta.dialect,
      origin: ws.config.audit.origin,
      actor: ws.actor().id,
      verifierKey: (await import('../../audit/note/index.js')).formatVerifierKey(
        ws.config.audit.origin,
        ws.audit.keys.rawPublicKey,
      ),
      gitignore,
    };
    out.result(result);
    out.say(
      `Initialized Cairn workspace in ${ws.root}/.cairn (metadata: ${result.metadata}, acting as ${result.actor})`,
    );
    out.say(`audit log key: ${result.verifierKey}`);
    if (gitignore === 'added') out.say(`added .cairn/ to ${ws.root}/.gitignore`);
  } finally {
    await ws.close();
  }
}
