import { CairnError } from '../core/errors.js';
import type { RemoteBackend } from './backends/port.js';
import { FsBackend } from './backends/fs/fs-backend.js';
import { EncryptedBackend } from './crypto/encrypted-backend.js';
import { loadRemoteKey } from './crypto/remote-keys.js';
import { parseRemoteUrl } from './remote-url.js';
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

export interface OpenRemoteOptions {
  onRetry?(err: unknown, attempt: number, delayMs: number): void;
  /** The key itself, when the workspace does not hold it yet (clone --key-file). */
  key?: Buffer;
}

/** Builds the backend a remote's URL names; the S3 and SSH clients load only when used. */
export async function openBackend(config: RemoteConfig, opts: OpenRemoteOptions = {}): Promise<RemoteBackend> {
  const loc = parseRemoteUrl(config.url);
  switch (loc.kind) {
    case 'file':
      return new FsBackend(loc.path);
    case 's3': {
      const { S3Backend } = await import('./backends/s3/s3-backend.js');
      return new S3Backend({
        bucket: loc.bucket,
        prefix: loc.prefix,
        ...(config.endpoint ? { endpoint: config.endpoint, forcePathStyle: true } : {}),
        ...(config.region ? { region: config.region } : {}),
        ...(opts.onRetry ? { onRetry: opts.onRetry } : {}),
      });
    }
    case 'ssh': {
      const { SshBackend } = await import('./backends/ssh/ssh-backend.js');
      return new SshBackend({
        host: loc.host,
        port: loc.port,
        ...(loc.user ? { username: loc.user } : {}),
        root: loc.path,
        ...(config.identityFile ? { identityFile: config.identityFile } : {}),
        ...(config.knownHosts ? { knownHostsFile: config.knownHosts } : {}),
        ...(opts.onRetry ? { onRetry: opts.onRetry } : {}),
      });
    }
  }
}

export async function openRemote(
  cairnDir: string | null,
  config: RemoteConfig,
  opts: OpenRemoteOptions = {},
): Promise<OpenedRemote> {
  const plain = await openBackend(config, opts);
  let key: Buffer | null = opts.key ?? null;
  if (!key && config.keyId) {
    if (!cairnDir) throw new CairnError('USAGE', 'this remote is encrypted: pass its key with --key-file');
    key = loadRemoteKey(cairnDir, config.keyId);
  }
  const data = key ? new EncryptedBackend(plain, key) : plain;
  return { plain, data, encrypted: key !== null, keyId: config.keyId ?? null, close: () => plain.close() };
}
