import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { CairnError } from '../core/errors.js';
import { sharedCacheDir } from '../datasets/index.js';
import { writeFileAtomic } from '../storage/objects/durable.js';
import {
  createRemoteSettings,
  FsBackend,
  formatRemotesFile,
  parseRemotesFile,
  parseRemoteUrl,
  pickRemote,
  s3Backend,
  sshBackend,
  type BackendOptions,
  type RemoteBackend,
  type RemoteConfig,
  type RemoteSettings,
  type RemotesFile,
  type RemotesPort,
  type TransferDeps,
  type TransferService,
} from '../transfer/index.js';
import type { ImportAnswer } from './server-store.js';
import { CAIRN_DIR, locateWorkspace, type OpenOptions, type Workspace } from './workspace.js';

/**
 * Where transfer's settings come from: `.cairn/remotes.json`, and the environment a remote's
 * backend defaults from (AWS_REGION, HOME's ~/.ssh, SSH_AUTH_SOCK). Only app/ reads them; the
 * transfer domain gets a RemotesPort.
 */
export const REMOTES_FILE = 'remotes.json';

/** `.cairn/remotes.json`, validated; no remotes when the file does not exist. */
export function loadRemotesFile(cairnDir: string): RemotesFile {
  const path = join(cairnDir, REMOTES_FILE);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, remotes: {} };
    throw new CairnError('CONFIG_INVALID', `cannot read ${path}: ${(err as Error).message}`);
  }
  return parseRemotesFile(raw, path);
}

export async function saveRemotesFile(cairnDir: string, file: RemotesFile): Promise<void> {
  // Owner-only: it names hosts, buckets and key files, which are nobody else's business.
  await writeFileAtomic(join(cairnDir, REMOTES_FILE), formatRemotesFile(file), { mode: 0o600 });
}

/** The backend a remote's URL names, with the defaults the `aws` and `ssh` commands would use. */
export async function openBackend(
  config: RemoteConfig,
  opts: BackendOptions,
  env: NodeJS.ProcessEnv,
): Promise<RemoteBackend> {
  const loc = parseRemoteUrl(config.url);
  const onRetry = opts.onRetry ? { onRetry: opts.onRetry } : {};
  switch (loc.kind) {
    case 'file':
      return new FsBackend(loc.path);
    case 's3': {
      // Cairn supports Node 20 (package.json engines); the SDK's "upgrade to Node 22" warning
      // would otherwise land in every S3 command's stderr, JSON output included.
      process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
      const region = config.region ?? env.AWS_REGION;
      return s3Backend({
        bucket: loc.bucket,
        prefix: loc.prefix,
        ...(config.endpoint ? { endpoint: config.endpoint, forcePathStyle: true } : {}),
        ...(region ? { region } : {}),
        ...onRetry,
      });
    }
    case 'ssh':
      return sshBackend({
        host: loc.host,
        port: loc.port,
        ...(loc.user ? { username: loc.user } : {}),
        root: loc.path,
        sshDir: join(homedir(), '.ssh'),
        ...(env.SSH_AUTH_SOCK ? { agent: env.SSH_AUTH_SOCK } : {}),
        ...(config.identityFile ? { identityFile: config.identityFile } : {}),
        ...(config.knownHosts ? { knownHostsFile: config.knownHosts } : {}),
        ...onRetry,
      });
    case 'server': {
      const { currentSession } = await import('./remote/credentials.js');
      const { ServerStoreBackend } = await import('./remote/store-backend.js');
      const session = currentSession(env, loc.url);
      // CAIRN_MULTIPART_ABOVE (bytes): packs above it go up in parts (default 64 MiB; docs/SERVER.md).
      const above = Number(env.CAIRN_MULTIPART_ABOVE);
      return new ServerStoreBackend({
        url: loc.url,
        token: session!.token,
        ...(Number.isSafeInteger(above) && above > 0 ? { multipartAbove: above } : {}),
      });
    }
  }
}

/**
 * A push to a team server ends with the server importing what arrived (verifying the pushed
 * audit log, recording the push as the authenticated account). If another push replaced the
 * store's state meanwhile, the push runs again: what is already there is not sent twice.
 */
export function withServerImport(t: TransferService, remotes: RemotesPort, env: NodeJS.ProcessEnv): TransferService {
  return {
    ...t,
    async push(refs, opts = {}) {
      const { config } = pickRemote(remotes.load(), opts.remote);
      const loc = parseRemoteUrl(config.url);
      if (loc.kind !== 'server') return t.push(refs, opts);
      const { currentSession } = await import('./remote/credentials.js');
      const { ApiClient } = await import('./remote/client.js');
      const api = new ApiClient({ url: loc.url, token: currentSession(env, loc.url)!.token });
      for (let attempt = 1; ; attempt++) {
        const res = await t.push(refs, opts);
        try {
          const server = await api.call<ImportAnswer>('store.import', { body: { versions: res.digests } });
          // A model version or run this push carried that the server did not record is said, not hidden.
          const refused = (server.skippedModels ?? []).filter((m) => res.models.includes(`${m.model}@v${m.number}`));
          const runs = (server.skippedRuns ?? []).filter((r) => res.runs.includes(r.run));
          if (refused.length || runs.length)
            throw new CairnError(
              'NOT_VOUCHED',
              `the server recorded the push but refused ${[
                ...refused.map((m) => `${m.model}@v${m.number} (${m.why})`),
                ...runs.map((r) => `run ${r.run} (${r.name}: ${r.why})`),
              ].join(', ')}`,
              {
                data: { models: refused, runs },
                hint: refused.length
                  ? "the workspace's log must hold the model.register event of exactly that version: run `cairn audit verify` here"
                  : "a run travels only as its workspace's log recorded it, with its inputs and output: run `cairn audit verify` here, and push the versions it names",
              },
            );
          return { ...res, server };
        } catch (err) {
          // Also again when the server removed a held pack this push relied on (another account's
          // upload that failed the check against its name): the next push uploads it.
          const again = err instanceof CairnError && (err.code === 'DIVERGED' || err.data?.poisoned !== undefined);
          if (!again || attempt >= 3) throw err;
        }
      }
    },
  };
}

export function remotesPort(cairnDir: string, env: NodeJS.ProcessEnv): RemotesPort {
  return {
    load: () => loadRemotesFile(cairnDir),
    save: (file) => saveRemotesFile(cairnDir, file),
    backend: (config, opts = {}) => openBackend(config, opts, env),
  };
}

/** The transfer domain's ports, from an open workspace. */
export function transferDeps(ws: Workspace, env: NodeJS.ProcessEnv = process.env): TransferDeps {
  return { ...ws, workspaceId: ws.config.workspace.id, remotes: remotesPort(ws.cairnDir, env) };
}

/** The shared cluster cache: `--cache`, else CAIRN_CACHE, else none. */
export function sharedCache(flag: string | undefined, env: NodeJS.ProcessEnv): string | null {
  return sharedCacheDir(flag, env);
}

/** The workspace's remote settings, which live in files: no database is opened (`remote ls`, …). */
export async function withRemoteSettings<T>(opts: OpenOptions, fn: (s: RemoteSettings) => Promise<T>): Promise<T> {
  const cairnDir = join(locateWorkspace(opts), CAIRN_DIR);
  return fn(createRemoteSettings({ cairnDir, remotes: remotesPort(cairnDir, opts.env ?? process.env) }));
}
