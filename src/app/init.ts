import { formatVerifierKey } from '../audit/note/index.js';
import { ignoreWorkspaceInGit } from './gitignore.js';
import { initWorkspace } from './workspace.js';
import { withServices } from './services.js';
import { currentSession } from './remote/credentials.js';
import { parseRemoteUrl } from '../transfer/index.js';
import type { Pkcs11KeyConfig } from './pkcs11.js';

export interface InitSummary {
  workspace: string;
  id: string;
  metadata: string;
  origin: string;
  actor: string;
  verifierKey: string;
  gitignore: ReturnType<typeof ignoreWorkspaceInGit> | 'failed';
  /** `--server`: the remote that links the workspace to a team server, and whether this machine is signed in there. */
  server?: { remote: string; url: string; signedInAs: string | null };
}

/** `cairn init`: creates the workspace and, inside git, keeps .cairn/ out of it. */
export async function initAndDescribe(
  dir: string,
  opts: {
    metadataUrl?: string;
    pkcs11?: Pkcs11KeyConfig;
    releaseKeyLabels?: { keyLabel: string; omsKeyLabel: string };
    onGitignoreError?: (root: string, err: Error) => void;
    server?: { url: string; remote?: string };
    env?: NodeJS.ProcessEnv;
  },
): Promise<InitSummary> {
  // Checked before anything is created: a bad URL must not leave a half-linked workspace.
  if (opts.server) parseRemoteUrl(opts.server.url);
  const summary = await initOnly(dir, opts);
  if (!opts.server) return summary;
  const remote = opts.server.remote ?? 'team';
  const env = { ...(opts.env ?? process.env), CAIRN_SERVER: '' };
  await withServices({ cwd: summary.workspace, env }, async (s) => {
    await s.transfer.addRemote(remote, opts.server!.url, {});
    await s.transfer.setDefaultRemote(remote);
  });
  const session = currentSession(env, opts.server.url);
  return { ...summary, server: { remote, url: opts.server.url, signedInAs: session?.user ?? null } };
}

async function initOnly(
  dir: string,
  opts: {
    metadataUrl?: string;
    pkcs11?: Pkcs11KeyConfig;
    releaseKeyLabels?: { keyLabel: string; omsKeyLabel: string };
    onGitignoreError?: (root: string, err: Error) => void;
  },
): Promise<InitSummary> {
  const ws = await initWorkspace(dir, {
    command: 'init',
    ...(opts.metadataUrl ? { metadataUrl: opts.metadataUrl } : {}),
    ...(opts.pkcs11 ? { pkcs11: opts.pkcs11 } : {}),
    ...(opts.releaseKeyLabels ? { releaseKeyLabels: opts.releaseKeyLabels } : {}),
  });
  try {
    // Also out of the run key's "uncommitted changes" (.cairn/ changes with every command).
    let gitignore: InitSummary['gitignore'];
    try {
      gitignore = ignoreWorkspaceInGit(ws.root);
    } catch (err) {
      gitignore = 'failed';
      opts.onGitignoreError?.(ws.root, err as Error);
    }
    return {
      workspace: ws.root,
      id: ws.config.workspace.id,
      metadata: ws.meta.dialect,
      origin: ws.config.audit.origin,
      actor: ws.actor().id,
      verifierKey: formatVerifierKey(ws.config.audit.origin, ws.audit.keys.rawPublicKey),
      gitignore,
    };
  } finally {
    await ws.close();
  }
}
