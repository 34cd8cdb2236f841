import { initWorkspace } from '../../app/workspace.js';
import { commandContext, type GlobalOptions } from '../context.js';

export async function run(dir: string | undefined, opts: GlobalOptions & { metadataUrl?: string }): Promise<void> {
  const { out } = commandContext(opts);
  const ws = await initWorkspace(dir ?? '.', { command: 'init', ...(opts.metadataUrl ? { metadataUrl: opts.metadataUrl } : {}) });
  try {
    const result = {
      workspace: ws.root,
      id: ws.config.workspace.id,
      metadata: ws.meta.dialect,
      origin: ws.config.audit.origin,
      actor: ws.actor().id,
      verifierKey: (await import('../../audit/note/index.js')).formatVerifierKey(ws.config.audit.origin, ws.audit.keys.rawPublicKey),
    };
    out.result(result);
    out.say(`Initialized Cairn workspace in ${ws.root}/.cairn (metadata: ${result.metadata}, acting as ${result.actor})`);
    out.say(`audit log key: ${result.verifierKey}`);
  } finally {
    await ws.close();
  }
}
