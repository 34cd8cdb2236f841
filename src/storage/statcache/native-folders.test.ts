import {
  lstatSync,
  mkdirSync,
  readdirSync,
  readlinkSync,
  renameSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../test-support/prng.js';
import { useTempDirs } from '../../test-support/temp.js';
import { FLAG_BAD_NAME, FLAG_TARGET, nativeStatBatch, type NativeFolder } from './native.js';

const nb = nativeStatBatch();
const { errno } = constants;

/** The addon's answer for `n` entries, as plain values. */
function decode(res: NativeFolder, listed: boolean) {
  const n = res.n;
  const stats = new Float64Array(res.buf, 0, 4 * n);
  const info = new Int32Array(res.buf, 32 * n, 3 * n);
  const strings = Buffer.from(res.buf, 44 * n)
    .toString('utf8')
    .split('\0');
  const out = [];
  for (let i = 0, t = 0; i < n; i++) {
    const name = listed ? strings[t++]! : undefined;
    const flags = info[3 * i + 2]!;
    const target = flags & FLAG_TARGET ? strings[t++] : undefined;
    out.push({
      name,
      target,
      bad: (flags & FLAG_BAD_NAME) !== 0,
      err: info[3 * i + 1]!,
      mode: info[3 * i]!,
      ino: stats[4 * i]!,
      size: stats[4 * i + 1]!,
      mtimeMs: stats[4 * i + 2]!,
      ctimeMs: stats[4 * i + 3]!,
    });
  }
  return out;
}

/** A folder of every kind of entry, with random sub-millisecond times and odd names. */
function oddFolder(root: string, seed: number): void {
  const r = mulberry32(seed);
  for (let i = 0; i < 40; i++) {
    const name = i % 7 === 0 ? `line\nbreak ${i}` : i % 11 === 0 ? `é ü ${i} ☃` : `f${i}`;
    const p = join(root, name);
    writeFileSync(p, Buffer.alloc(Math.floor(r() * 3000)), { mode: r() < 0.3 ? 0o755 : 0o644 });
    // Seconds with a fraction down to the nanosecond: mtimeMs must match Node's to the last bit.
    const t = 1.7e9 + Math.floor(r() * 1e8) + Math.floor(r() * 1e9) / 1e9;
    utimesSync(p, t, t);
  }
  mkdirSync(join(root, 'sub'));
  symlinkSync('f1', join(root, 'link'));
  symlinkSync('../outside/of/it', join(root, 'far link'));
  // Not UTF-8: Node lists it with U+FFFD, which names no file; the addon flags it.
  writeFileSync(Buffer.from(`${root}/bad-\xff-name`, 'latin1'), 'x');
}

describe.skipIf(!nb)('the native stat batch (native/statbatch)', () => {
  const tmp = useTempDirs();

  it('lists a folder and reports what lstat reports, to the last bit, for every kind of entry', async () => {
    const root = tmp();
    oddFolder(root, 7);
    const self = lstatSync(root);
    const res = await nb!.statFolder(root, self.dev, self.ino, null, null);
    expect(res.status).toBe(0);
    const got = decode(res, true);
    expect(got.map((e) => e.name).sort()).toEqual(readdirSync(root).sort());
    for (const e of got) {
      if (e.bad) {
        expect(e.name).toContain('\uFFFD');
        continue;
      }
      const st = lstatSync(join(root, e.name!));
      expect([e.err, e.mode, e.ino, e.size, e.mtimeMs, e.ctimeMs], e.name).toEqual([
        0,
        st.mode,
        st.ino,
        st.size,
        st.mtimeMs,
        st.ctimeMs,
      ]);
      expect(e.target, e.name).toBe(st.isSymbolicLink() ? readlinkSync(join(root, e.name!)) : undefined);
    }
    expect(got.filter((e) => e.bad)).toHaveLength(1);
  });

  it('stats the names it is given, in their order, and reports the ones that are gone', async () => {
    const root = tmp();
    oddFolder(root, 8);
    const names = ['f3', 'gone', 'line\nbreak 7', 'link', 'f3', 'sub', 'é ü 11 ☃'];
    const bytes = names.map((n) => Buffer.from(n, 'utf8'));
    // Four int32 per name, as the comparison keeps them: [kind, at, length, entry offset].
    const spans = new Int32Array(4 * names.length);
    let at = 0;
    bytes.forEach((b, i) => {
      spans[4 * i + 1] = at;
      spans[4 * i + 2] = b.length;
      at += b.length;
    });
    const self = lstatSync(root);
    const res = await nb!.statFolder(root, self.dev, self.ino, Buffer.concat(bytes), spans);
    expect(res.status).toBe(0);
    const got = decode(res, false);
    expect(got).toHaveLength(names.length);
    got.forEach((e, i) => {
      if (names[i] === 'gone') {
        expect(e.err).toBe(errno.ENOENT);
        return;
      }
      const st = lstatSync(join(root, names[i]!));
      expect([e.err, e.mode, e.ino, e.size, e.mtimeMs, e.ctimeMs]).toEqual([
        0,
        st.mode,
        st.ino,
        st.size,
        st.mtimeMs,
        st.ctimeMs,
      ]);
    });
    expect(got[3]!.target).toBe('f1');
    // Out of bounds spans are refused before anything runs.
    expect(() => nb!.statFolder(root, self.dev, self.ino, Buffer.from('ab'), new Int32Array([0, 1, 5, 0]))).toThrow(
      /in-bounds/,
    );
  });

  it('refuses a folder that is not the one lstat-ed: another inode, or a symlink in its place', async () => {
    const root = tmp();
    mkdirSync(join(root, 'd'));
    writeFileSync(join(root, 'd', 'f'), 'f');
    const before = lstatSync(join(root, 'd'));
    // Swapped for a twin (same names, another inode) between the caller's lstat and the open.
    renameSync(join(root, 'd'), join(root, 'old'));
    mkdirSync(join(root, 'd'));
    writeFileSync(join(root, 'd', 'f'), 'f');
    const twin = await nb!.statFolder(join(root, 'd'), before.dev, before.ino, null, null);
    expect([twin.status, twin.n]).toEqual([2, 0]);
    // Swapped for a link to the original: O_NOFOLLOW|O_DIRECTORY refuses to open it.
    renameSync(join(root, 'd'), join(root, 'twin'));
    symlinkSync('old', join(root, 'd'));
    const link = await nb!.statFolder(join(root, 'd'), before.dev, before.ino, null, null);
    expect([link.status, link.n]).toEqual([1, 0]);
    expect([errno.ENOTDIR, errno.ELOOP]).toContain(link.err);
    const gone = await nb!.statFolder(join(root, 'nothing'), before.dev, before.ino, null, null);
    expect([gone.status, gone.err]).toEqual([1, errno.ENOENT]);
  });
});
