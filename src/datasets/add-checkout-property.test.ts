import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Workspace } from '../app/workspace.js';
import { findDataset } from '../meta/repos/datasets.js';
import { statCachePath } from '../storage/statcache/stat-cache.js';
import { buildTree, type FlatEntry } from '../storage/tree/build.js';
import { mulberry32 } from '../test-support/prng.js';
import { useTempDirs } from '../test-support/temp.js';
import { newWorkspace } from '../test-support/workspace.js';
import { addVersion } from './add.js';
import { checkoutVersion } from './checkout.js';
import { statusOf } from './status.js';

/** Everything a tree holds, read the slow way: files (bytes' digest, exec bit), links, every directory. */
interface Snapshot {
  files: Map<string, { sha: string; size: number; exec: boolean }>;
  links: Map<string, string>;
  dirs: string[];
}

function snapshot(root: string): Snapshot {
  const s: Snapshot = { files: new Map(), links: new Map(), dirs: [] };
  const walk = (abs: string, rel: string) => {
    for (const name of fs.readdirSync(abs)) {
      if (name === '.cairn') continue;
      const a = join(abs, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = fs.lstatSync(a);
      if (st.isDirectory()) {
        s.dirs.push(r);
        walk(a, r);
      } else if (st.isSymbolicLink()) s.links.set(r, fs.readlinkSync(a));
      else {
        const bytes = fs.readFileSync(a);
        s.files.set(r, {
          sha: createHash('sha256').update(bytes).digest('hex'),
          size: bytes.length,
          exec: (st.mode & 0o111) !== 0,
        });
      }
    }
  };
  walk(root, '');
  s.dirs.sort();
  return s;
}

function plain(s: Snapshot) {
  return { files: [...s.files].sort(), links: [...s.links].sort(), dirs: s.dirs };
}

/** Seeded (mulberry32): the same tree for the same seed. */
function rng(seed: number) {
  const next = mulberry32(seed);
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    pick: <T>(a: readonly T[]) => a[Math.floor(next() * a.length)]!,
  };
}

// Names in several scripts and normalisation forms (NFC and NFD of "é" are different names on
// ext4 and must stay different), with spaces and dots, none of them reserved.
const NAMES = [
  'a',
  'B',
  'é',
  'e\u0301',
  '日本語',
  'Ωmega',
  '🐢 slow',
  'x.y.z',
  ' lead',
  'trail ',
  '-dash',
  'ü.bin',
  'k',
];
const MIN_CHUNK = 32 * 1024;

/**
 * A random tree: nesting up to 14 levels, empty folders, empty files, files on both sides of
 * the one-chunk limit (batched vs streamed), executables and links within the tree.
 */
function randomTree(root: string, r: ReturnType<typeof rng>): { large: boolean } {
  fs.mkdirSync(root, { recursive: true });
  const dirs = [''];
  let large = false;
  const folders = 3 + r.int(12);
  for (let i = 0; i < folders; i++) {
    const parent = r.pick(dirs);
    const depth = 1 + (r.next() < 0.2 ? r.int(12) : r.int(3));
    let d = parent;
    for (let k = 0; k < depth; k++) d = d ? `${d}/${r.pick(NAMES)}${k}` : `${r.pick(NAMES)}${k}`;
    fs.mkdirSync(join(root, d), { recursive: true });
    dirs.push(d);
  }
  const files = 1 + r.int(40);
  for (let i = 0; i < files; i++) {
    const d = r.pick(dirs);
    const p = join(root, d, `${r.pick(NAMES)}-${i}`);
    const kind = r.int(10);
    const size = kind === 0 ? 0 : kind === 1 ? MIN_CHUNK + 1 + r.int(200_000) : r.int(3000);
    if (size > MIN_CHUNK) large = true;
    const b = Buffer.alloc(size);
    for (let k = 0; k < size; k++) b[k] = r.int(256);
    // Some files share content (deduplicated blobs, identical folders).
    fs.writeFileSync(p, r.next() < 0.15 ? Buffer.from('same bytes') : b);
    if (r.next() < 0.2) fs.chmodSync(p, 0o755);
  }
  // Links to files of the tree, relative to the link's folder.
  const all = snapshot(root);
  const targets = [...all.files.keys()];
  for (let i = 0; i < r.int(3) && targets.length > 0; i++) {
    const d = r.pick(dirs);
    const up = d ? '../'.repeat(d.split('/').length) : '';
    fs.symlinkSync(`${up}${r.pick(targets)}`, join(root, d, `link-${i}`));
  }
  return { large };
}

describe('add and checkout of random trees round-trip exactly (streaming build, issue 16)', () => {
  const tmp = useTempDirs();
  let ws: Workspace | null = null;
  afterEach(async () => {
    await ws?.close();
    ws = null;
  });

  it('checks out every file, mode, link and empty folder it added; the digest is the pure builder’s', async () => {
    const runs = Number(process.env.CAIRN_PROPERTY_RUNS ?? 8);
    const sizes = new Set<boolean>();
    for (let seed = 1; seed <= runs; seed++) {
      const r = rng(seed * 104_729);
      const dir = tmp();
      ws = await newWorkspace(dir);
      const src = join(dir, 'src');
      const { large } = randomTree(src, r);
      sizes.add(large);
      const before = snapshot(src);
      const added = await addVersion(ws, { source: src, name: 't' });
      expect(added.files, `seed ${seed}`).toBe(before.files.size);

      if (!large) {
        // Every file is one chunk: the digest the whole-tree builder makes from a flat list
        // must be the one the folder-by-folder build recorded.
        const flat: FlatEntry[] = [
          ...before.dirs.map((path) => ({ path, type: 'dir' as const })),
          ...[...before.links].map(([path, target]) => ({ path, type: 'symlink' as const, target })),
          ...[...before.files].map(([path, f]) => ({
            path,
            type: 'file' as const,
            size: f.size,
            mode: f.exec ? ('755' as const) : ('644' as const),
            digest: f.sha,
            chunks: f.size > 0 ? [f.sha] : [],
          })),
        ];
        expect(added.digest, `seed ${seed}`).toBe(`sha256:${buildTree(flat).rootId}`);
      }

      const out = join(dir, 'out');
      await checkoutVersion(ws, { ref: 't', dir: out });
      expect(plain(snapshot(out)), `seed ${seed}`).toEqual(plain(before));
      // The checkout's own stat cache (written folder by folder) describes what it wrote.
      expect(fs.existsSync(statCachePath(ws.cacheDir, out))).toBe(true);
      expect((await statusOf(ws, out, 't')).clean, `seed ${seed}`).toBe(true);
      // A second checkout into the same (now full) folder takes the planning path: nothing to do.
      const second = await checkoutVersion(ws, { ref: 't', dir: out });
      expect(second.written, `seed ${seed}`).toBe(0);

      // The stat cache written during the walk is a complete baseline: status is clean, and a
      // re-add records nothing new.
      expect(fs.existsSync(statCachePath(ws.cacheDir, src))).toBe(true);
      expect((await statusOf(ws, src, 't')).clean, `seed ${seed}`).toBe(true);
      const again = await addVersion(ws, { source: src, name: 't' });
      expect(again.unchanged, `seed ${seed}`).toBe(true);
      expect(again.digest).toBe(added.digest);
      await ws.close();
      ws = null;
    }
    // The default seeds make trees with a streamed file and trees of one-chunk files only (the
    // flat-builder check above), so neither path goes untested.
    if (runs >= 8) expect([...sizes].sort()).toEqual([false, true]);
  }, 300_000);

  it('a walk that fails halfway leaves no version, no temporary stat cache and no pack in progress; a rerun works', async () => {
    const dir = tmp();
    ws = await newWorkspace(dir);
    const src = join(dir, 'src');
    // Many folders before the bad entry, so hashing is in flight when the walk meets it.
    for (let d = 0; d < 40; d++) {
      fs.mkdirSync(join(src, `d${String(d).padStart(2, '0')}`), { recursive: true });
      for (let f = 0; f < 60; f++) fs.writeFileSync(join(src, `d${String(d).padStart(2, '0')}`, `f${f}`), `${d}/${f}`);
    }
    fs.mkdirSync(join(src, 'zz'));
    const fifo = join(src, 'zz', 'pipe');
    const { execFileSync } = await import('node:child_process');
    execFileSync('mkfifo', [fifo]);
    await expect(addVersion(ws, { source: src, name: 'k' })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    const statDir = join(ws.cacheDir, 'stat');
    const leftovers = fs.existsSync(statDir) ? fs.readdirSync(statDir) : [];
    expect(leftovers).toEqual([]);
    const packTmp = ws.packs.tmpDir;
    expect(fs.existsSync(packTmp) ? fs.readdirSync(packTmp) : []).toEqual([]);
    expect(await findDataset(ws.meta.db, 'k')).toBeUndefined();

    fs.rmSync(fifo);
    const ok = await addVersion(ws, { source: src, name: 'k' });
    expect(ok.version).toBe(1);
    expect(ok.files).toBe(2400);
    const out = join(dir, 'out');
    await checkoutVersion(ws, { ref: 'k', dir: out });
    expect(plain(snapshot(out))).toEqual(plain(snapshot(src)));
  }, 120_000);
});
