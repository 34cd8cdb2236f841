import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import type { Workspace } from '../app/workspace.js';
import type { RemoteState } from '../transfer/state.js';
import { newWorkspace } from './workspace.js';

/** A `file://` remote's metadata state, as a hostile remote's owner would read and rewrite it. */
export const remoteStateFile = (remote: string) => join(remote, 'meta', 'state.json');
export const readRemoteState = (remote: string) =>
  JSON.parse(readFileSync(remoteStateFile(remote), 'utf8')) as RemoteState;
export const writeRemoteState = (remote: string, s: RemoteState) =>
  writeFileSync(remoteStateFile(remote), `${JSON.stringify(s)}\n`);

/** `workspace(actor)`: a fresh workspace under `tmp()` acting as `actor`, closed after each test. */
export function useWorkspaces(tmp: () => string): (actor: string) => Promise<Workspace> {
  const open: Workspace[] = [];
  afterEach(async () => {
    for (const ws of open.splice(0)) await ws.close().catch(() => {});
  });
  return async (actor: string) => {
    const ws = await newWorkspace(join(tmp(), 'ws'), { actor });
    open.push(ws);
    return ws;
  };
}
