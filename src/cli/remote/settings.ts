import { withRemoteSettings as open } from '../../app/transfer-config.js';
import type { RemoteSettings } from '../../transfer/index.js';
import { workspaceEnv, type GlobalOptions } from '../context.js';

/** Remote settings live in files: listing them needs no database. */
export function withRemoteSettings<T>(opts: GlobalOptions, fn: (s: RemoteSettings) => Promise<T>): Promise<T> {
  return open({ env: workspaceEnv(opts) }, fn);
}
