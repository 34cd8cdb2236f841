import { materializeShared, resolveVersion } from '../datasets/index.js';
import { cloneInto, type CloneResult } from './clone.js';
import { saveRemoteKey } from './crypto/remote-keys.js';
import type { RemotesPort, TransferDeps, TransferOptions } from './deps.js';
import { pull, type PullResult, type PullStateOptions } from './pull.js';
import { push, type PushResult } from './push.js';
import {
  addRemote,
  exportRemoteKey,
  listRemotes,
  removeRemote,
  setDefaultRemote,
  type AddRemoteOptions,
  type RemoteInfo,
} from './remote-admin.js';
import type { RemoteConfig } from './remotes-file.js';

/** The remote settings alone: kept in files, so reading them needs no database. */
export interface RemoteSettings {
  listRemotes(): Promise<RemoteInfo[]>;
  setDefaultRemote(name: string): Promise<void>;
  /** The backup line of an encrypted remote's key. */
  exportRemoteKey(name: string): Promise<string>;
}

export interface PullOptions extends PullStateOptions {
  /** Also place each named version read-only in this shared cluster cache. */
  materializeIn?: string;
}

/** What `cairn remote …`, `push`, `pull` and `clone` (and a team server) can ask of transfers. */
export interface TransferService extends RemoteSettings {
  addRemote(name: string, url: string, opts: AddRemoteOptions): Promise<RemoteInfo>;
  removeRemote(name: string): Promise<void>;
  push(refs: readonly string[], opts?: TransferOptions): Promise<PushResult>;
  /** With `materializeIn`, `materialized` maps each named ref to its folder in the cache. */
  pull(refs: readonly string[], opts?: PullOptions): Promise<PullResult & { materialized?: Record<string, string> }>;
  /** Fills this (fresh) workspace from a remote, which becomes its default; `key` for an encrypted one. */
  clone(remote: { name: string; config: RemoteConfig }, opts?: { key?: Buffer }): Promise<CloneResult>;
}

export function createRemoteSettings(deps: { cairnDir: string; remotes: RemotesPort }): RemoteSettings {
  return {
    listRemotes: async () => listRemotes(deps.remotes),
    setDefaultRemote: (name) => setDefaultRemote(deps.remotes, name),
    exportRemoteKey: async (name) => exportRemoteKey(deps, name),
  };
}

export function createTransferService(deps: TransferDeps): TransferService {
  return {
    ...createRemoteSettings(deps),
    addRemote: (name, url, opts) => addRemote(deps, name, url, opts),
    removeRemote: (name) => removeRemote(deps, name),
    push: (refs, opts) => push(deps, refs, opts),
    pull: (refs, opts) => pullAndPlace(deps, refs, opts),
    clone: async (remote, opts = {}) => {
      const config = { ...remote.config };
      if (opts.key) config.keyId = await saveRemoteKey(deps.cairnDir, opts.key);
      await deps.remotes.save({ version: 1, default: remote.name, remotes: { [remote.name]: config } });
      return cloneInto(deps, { name: remote.name, config }, opts.key ? { key: opts.key } : {});
    },
  };
}

async function pullAndPlace(
  deps: TransferDeps,
  refs: readonly string[],
  opts: PullOptions = {},
): Promise<PullResult & { materialized?: Record<string, string> }> {
  const { materializeIn, ...rest } = opts;
  const res = await pull(deps, refs, rest);
  if (!materializeIn) return res;
  const paths: Record<string, string> = {};
  for (const ref of refs)
    paths[ref] = await materializeShared(deps, (await resolveVersion(deps.meta.db, ref)).version.digest, materializeIn);
  return { ...res, materialized: paths };
}
