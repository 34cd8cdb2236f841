import { readFileSync } from 'node:fs';
import type { AuditLog } from '../audit/log/audit-log.js';
import { CairnError } from '../core/errors.js';
import { formatRemoteKey, loadRemoteKey, newRemoteKey, parseRemoteKey, saveRemoteKey } from './crypto/remote-keys.js';
import { checkEndpointUrl, parseRemoteUrl } from './remote-url.js';
import type { RemotesPort } from './deps.js';
import { checkRemoteName, type RemoteConfig } from './remotes-file.js';

/** What managing remotes needs: the remotes themselves, the workspace's key folder and its log. */
export interface RemoteAdminDeps {
  cairnDir: string;
  remotes: RemotesPort;
  audit: AuditLog;
}

export interface AddRemoteOptions {
  endpoint?: string;
  region?: string;
  /** Encrypt client-side: with a new key, or the one in `keyFile` (a backup). */
  encrypt?: boolean;
  keyFile?: string;
  jobs?: number;
  bwlimit?: number;
  identityFile?: string;
  knownHosts?: string;
  force?: boolean;
}

export interface RemoteInfo {
  name: string;
  url: string;
  default: boolean;
  encrypted: boolean;
  keyId: string | null;
  endpoint: string | null;
}

/** The remote's settings, as remotes.json will hold them (no secrets). Pure but for reading a key file. */
export function remoteConfigFrom(url: string, opts: AddRemoteOptions): { config: RemoteConfig; key: Buffer | null } {
  const loc = parseRemoteUrl(url);
  if (opts.endpoint && loc.kind !== 's3') throw new CairnError('USAGE', '--endpoint is for s3:// remotes');
  if ((opts.identityFile || opts.knownHosts) && loc.kind !== 'ssh')
    throw new CairnError('USAGE', '--identity-file and --known-hosts are for ssh:// remotes');
  if (opts.endpoint) checkEndpointUrl(opts.endpoint);
  let key: Buffer | null = null;
  if (opts.keyFile) {
    let text: string;
    try {
      text = readFileSync(opts.keyFile, 'utf8');
    } catch (err) {
      throw new CairnError('IO_ERROR', `cannot read the key file ${opts.keyFile}: ${(err as Error).message}`);
    }
    key = parseRemoteKey(text);
  } else if (opts.encrypt) key = newRemoteKey();
  const config: RemoteConfig = {
    url,
    ...(opts.endpoint ? { endpoint: opts.endpoint } : {}),
    ...(opts.region ? { region: opts.region } : {}),
    ...(opts.jobs ? { jobs: opts.jobs } : {}),
    ...(opts.bwlimit ? { bwlimit: opts.bwlimit } : {}),
    ...(opts.identityFile ? { identityFile: opts.identityFile } : {}),
    ...(opts.knownHosts ? { knownHosts: opts.knownHosts } : {}),
  };
  return { config, key };
}

export async function addRemote(
  ws: RemoteAdminDeps,
  name: string,
  url: string,
  opts: AddRemoteOptions,
): Promise<RemoteInfo> {
  checkRemoteName(name);
  const file = ws.remotes.load();
  if (file.remotes[name] && !opts.force)
    throw new CairnError('ALREADY_EXISTS', `a remote named ${name} exists (${file.remotes[name]!.url})`, {
      hint: 'pass --force to replace it, or cairn remote rm it first',
    });
  const { config, key } = remoteConfigFrom(url, opts);
  if (key) config.keyId = await saveRemoteKey(ws.cairnDir, key);
  file.remotes[name] = config;
  if (!file.default && Object.keys(file.remotes).length === 1) file.default = name;
  await ws.remotes.save(file);
  await ws.audit.record(
    {
      action: 'remote.add',
      target: { type: 'remote', name },
      params: {
        url,
        encrypted: key !== null,
        ...(config.keyId ? { keyId: config.keyId } : {}),
        ...(config.endpoint ? { endpoint: config.endpoint } : {}),
      },
    },
    'ok',
  );
  return info(name, config, file.default === name);
}

export async function removeRemote(ws: RemoteAdminDeps, name: string): Promise<void> {
  const file = ws.remotes.load();
  const config = file.remotes[name];
  if (!config) throw new CairnError('NOT_FOUND', `no remote named ${JSON.stringify(name)}`);
  delete file.remotes[name];
  if (file.default === name) delete file.default;
  await ws.remotes.save(file);
  // The key stays in keys/remotes/: other remotes may share it, and losing it loses the data.
  await ws.audit.record(
    { action: 'remote.remove', target: { type: 'remote', name }, params: { url: config.url } },
    'ok',
  );
}

export async function setDefaultRemote(remotes: RemotesPort, name: string): Promise<void> {
  const file = remotes.load();
  if (!file.remotes[name])
    throw new CairnError('NOT_FOUND', `no remote named ${JSON.stringify(name)}`, {
      hint: `remotes: ${Object.keys(file.remotes).join(', ') || 'none'}`,
    });
  file.default = name;
  await remotes.save(file);
}

export function listRemotes(remotes: RemotesPort): RemoteInfo[] {
  const file = remotes.load();
  return Object.entries(file.remotes)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([name, c]) => info(name, c, file.default === name));
}

/** The backup line of an encrypted remote's key. */
export function exportRemoteKey(deps: { cairnDir: string; remotes: RemotesPort }, name: string): string {
  const c = deps.remotes.load().remotes[name];
  if (!c) throw new CairnError('NOT_FOUND', `no remote named ${JSON.stringify(name)}`);
  if (!c.keyId) throw new CairnError('USAGE', `remote ${name} is not encrypted`);
  return formatRemoteKey(loadRemoteKey(deps.cairnDir, c.keyId));
}

function info(name: string, c: RemoteConfig, isDefault: boolean): RemoteInfo {
  return {
    name,
    url: c.url,
    default: isDefault,
    encrypted: Boolean(c.keyId),
    keyId: c.keyId ?? null,
    endpoint: c.endpoint ?? null,
  };
}
