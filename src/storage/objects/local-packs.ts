import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { ioError } from '../../core/errors.js';

/**
 * Where a workspace keeps its packs: `objects/packs/<first 2 hex>/<64 hex>.pack`, with
 * in-progress writes under `objects/tmp/` so a crash never leaves a partial file under a
 * final name.
 */
export class LocalPackDir {
  readonly root: string;

  constructor(root: string) {
    this.root = root;
  }

  get packsDir(): string {
    return join(this.root, 'packs');
  }

  get tmpDir(): string {
    return join(this.root, 'tmp');
  }

  /** The store's lock directory: `locks/` beside `objects/` (docs/FORMAT.md §1, §8). */
  get locksDir(): string {
    return join(dirname(this.root), 'locks');
  }

  packPath(id: string): string {
    return join(this.root, 'packs', id.slice(0, 2), `${id}.pack`);
  }

  /**
   * `<pid>@<host tag>-<random>.pack.tmp`: the writer's process id and a tag of its host, so a
   * later writer can tell the leftovers of a dead process from a live one's work in progress
   * (on a store shared between hosts, only the owner's host can tell).
   */
  newTempPath(): string {
    return join(this.tmpDir, `${process.pid}@${HOST_TAG}-${randomBytes(8).toString('hex')}.pack.tmp`);
  }

  async ensure(): Promise<void> {
    await fsp.mkdir(this.packsDir, { recursive: true });
    await fsp.mkdir(this.tmpDir, { recursive: true });
  }

  /** Every pack file present, by id, with its size. */
  async list(): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    let shards: string[];
    try {
      shards = await fsp.readdir(this.packsDir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return out;
      throw ioError(err, 'list', this.packsDir);
    }
    for (const shard of shards) {
      if (!/^[0-9a-f]{2}$/.test(shard)) continue;
      const dir = join(this.packsDir, shard);
      for (const name of await fsp.readdir(dir)) {
        const m = /^([0-9a-f]{64})\.pack$/.exec(name);
        if (!m || !m[1]!.startsWith(shard)) continue;
        const st = await fsp.stat(join(dir, name));
        out.set(m[1]!, st.size);
      }
    }
    return out;
  }

  async listTemp(): Promise<Array<{ path: string; mtimeMs: number; size: number; owner: TempOwner | null }>> {
    try {
      const names = await fsp.readdir(this.tmpDir);
      const out = [];
      for (const n of names) {
        const p = join(this.tmpDir, n);
        const st = await fsp.stat(p).catch(() => null);
        if (st) out.push({ path: p, mtimeMs: st.mtimeMs, size: st.size, owner: tempOwner(n) });
      }
      return out;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw ioError(err, 'list', this.tmpDir);
    }
  }
}

/** Who wrote a temporary pack: `local` when its host is this one (or it predates host tags). */
export interface TempOwner {
  pid: number;
  local: boolean;
}

const HOST_TAG = createHash('sha256').update(hostname()).digest('hex').slice(0, 8);

export function tempOwner(name: string): TempOwner | null {
  const m = /^(\d+)(?:@([0-9a-f]{8}))?-[0-9a-f]+\.pack\.tmp$/.exec(name);
  if (!m) return null;
  return { pid: Number(m[1]), local: m[2] === undefined || m[2] === HOST_TAG };
}
