import { formatVerifierKey } from '../audit/note/index.js';
import { ignoreWorkspaceInGit } from './gitignore.js';
import { initWorkspace } from './workspace.js';
import type { Pkcs11KeyConfig } from './pkcs11.js';

export interface InitSummary {
  workspace: string;
  id: string;
  metadata: string;
  origin: string;
  actor: string;
  verifierKey: string;
  gitignore: ReturnType<typeof ignoreWorkspaceInGit> | 'failed';
}

/** `cairn init`: creates the workspace and, inside git, keeps .cairn/ out of it. */
export async function initAndDescribe(
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
