import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { initWorkspace, openWorkspace, type Workspace } from '../app/workspace.js';

/** A workspace opened in-process in `dir` (created with `cairn init` semantics). */
export async function newWorkspace(
  dir: string,
  opts: { metadataUrl?: string; actor?: string } = {},
): Promise<Workspace> {
  const env = { ...process.env, CAIRN_ACTOR: opts.actor ?? 'tester@example.com' };
  const ws = await initWorkspace(dir, {
    command: 'test',
    env,
    ...(opts.metadataUrl ? { metadataUrl: opts.metadataUrl } : {}),
  });
  return ws;
}

export async function reopen(dir: string, actor = 'tester@example.com'): Promise<Workspace> {
  return openWorkspace({ cwd: dir, command: 'test', env: { ...process.env, CAIRN_ACTOR: actor } });
}

/** Writes files given as { 'a/b.txt': 'content' | Buffer }. */
export function writeTree(root: string, files: Record<string, string | Buffer>): void {
  for (const [p, content] of Object.entries(files)) {
    const abs = join(root, p);
    mkdirSync(dirname(abs), { recursive: true });
    writeFileSync(abs, content);
  }
}

/** Deterministic pseudo-random bytes (xorshift), so tests never depend on Math.random. */
export function prng(seed: number, size: number): Buffer {
  const b = Buffer.allocUnsafe(Math.ceil(size / 4) * 4);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < b.length; i += 4) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b.writeUInt32LE(x, i);
  }
  return b.subarray(0, size);
}
