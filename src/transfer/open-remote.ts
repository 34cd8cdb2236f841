import { CairnError } from '../core/errors.js';
import type { RemoteBackend } from './backends/port.js';
import { EncryptedBackend } from './crypto/encrypted-backend.js';
import { loadRemoteKey } from './crypto/remote-keys.js';
import type { BackendOptions, RemotesPort } from './deps.js';
import type { RemoteConfig } from './remotes-file.js';

export interface OpenedRemote {
  /** Plain access: the remote's descriptor (cairn-remote.json) is never encrypted. */
  plain: RemoteBackend;
  /** What data goes through: `plain`, or an EncryptedBackend over it. */
  data: RemoteBackend;
  encrypted: boolean;
  keyId: string | null;
  close(): Promise<void>;
}

export interface OpenRemoteOptions extends BackendOptions {
  /** The key itself, when the workspace does not hold it yet (clone --key-file). */
  key?: Buffer;
}

/** Opens a remote's backend (app/ picks it from the URL) and, for an encrypted remote, wraps it with its key. */
export async function openRemote(
  deps: { cairnDir: string | null; remotes: Pick<RemotesPort, 'backend'> },
  config: RemoteConfig,
  opts: OpenRemoteOptions = {},
): Promise<OpenedRemote> {
  const plain = await deps.remotes.backend(config, opts.onRetry ? { onRetry: opts.onRetry } : {});
  let key: Buffer | null = opts.key ?? null;
  if (!key && config.keyId) {
    if (!deps.cairnDir) throw new CairnError('USAGE', 'this remote is encrypted: pass its key with --key-file');
    key = loadRemoteKey(deps.cairnDir, config.keyId);
  }
  const data = key ? new EncryptedBackend(plain, key) : plain;
  return { plain, data, encrypted: key !== null, keyId: config.keyId ?? null, close: () => plain.close() };
}
