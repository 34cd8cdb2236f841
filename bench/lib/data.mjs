// Deterministic benchmark data generation.
//
// Every byte is derived from AES-128-CTR keystreams (node:crypto createCipheriv over zero
// buffers), so the data is incompressible and bit-identical on every machine. The keys are
// 16 ASCII bytes, the IV is 16 zero bytes (the CTR counter starts at 0):
//
//   big.bin      key "cairn-bench-big!"  the base file (2^30 bytes at scale 1)
//   big-mod.bin  key "cairn-bench-mod!"  replacement bytes for the 10 modified regions,
//                                        followed by the inserted bytes (one stream, in file order)
//   big10.bin    key "cairn-bench-10g!"  the 10x file for the peak-memory test (--with-10g)
//   small/       key "cairn-bench-siz!"  file sizes (one little-endian u32 per file)
//                key "cairn-bench-sml!"  file contents (one stream, in file index order)
//
// Layout at scale 1 (see `layout()` for how --scale shrinks it):
//   big.bin      2^30 bytes
//   big-mod.bin  big.bin with floor(2^30 / 100) = 10,737,418 bytes overwritten in 10 contiguous,
//                near-equal regions (sizes differ by at most one byte) spread over the file at
//                odd (non-aligned) offsets, plus 2^20 new bytes inserted at floor(2^30 / 2) + 4099.
//                "Real change" = overwritten + inserted = 11,785,994 bytes.
//   small/       20,000 files of 1..16 KiB, 200 per directory: small/d042/f08400.bin
//                (file index is global, directory = floor(index / 200)).
//
// Data lives in bench/.data/scale-<x>/ (gitignored), one folder per scale. Each artifact has a
// stamp file (.stamp-<name>.json) written only after the artifact is complete; an artifact is
// reused when its stamp matches the expected parameters and a cheap check (sizes, file count)
// passes. Artifacts are generated under a temporary name and renamed into place.
//
// Run directly:  node bench/lib/data.mjs [--scale 0.05] [--with-10g] [--verify]

import { createCipheriv, createHash } from 'node:crypto';
import { open, mkdir, readFile, writeFile, rename, rm, stat, readdir, statfs } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const GENERATOR_VERSION = 1;
export const BENCH_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const DATA_ROOT = path.join(BENCH_DIR, '.data');

const KEYS = {
  big: 'cairn-bench-big!',
  mod: 'cairn-bench-mod!',
  big10: 'cairn-bench-10g!',
  sizes: 'cairn-bench-siz!',
  small: 'cairn-bench-sml!',
};
const ZERO_IV = Buffer.alloc(16);
const BLOCK = 4 << 20; // 4 MiB generation block
const GiB = 2 ** 30;
const MiB = 2 ** 20;

/** A keystream reader: next(n) returns the next n keystream bytes (a fresh Buffer). */
export function keystream(keyAscii) {
  const key = Buffer.from(keyAscii, 'ascii');
  if (key.length !== 16) throw new Error(`key must be 16 bytes: ${keyAscii}`);
  const cipher = createCipheriv('aes-128-ctr', key, ZERO_IV);
  let zeros = Buffer.alloc(BLOCK);
  return {
    next(n) {
      if (n > zeros.length) zeros = Buffer.alloc(n);
      return cipher.update(n === zeros.length ? zeros : zeros.subarray(0, n));
    },
  };
}

export function normalizeScale(x) {
  const s = Number(x ?? 1);
  if (!Number.isFinite(s) || s <= 0 || s > 1) throw new Error(`scale must be in (0, 1], got ${x}`);
  return s;
}

/** All sizes and offsets for a scale. Pure function: same scale, same layout. */
export function layout(scaleIn = 1) {
  const scale = normalizeScale(scaleIn);
  // big file: 2^30 * scale rounded to a power of two (scale 0.05 -> 64 MiB), at least 4 MiB
  const bigBytes = scale === 1 ? GiB : Math.max(4 * MiB, 2 ** Math.round(Math.log2(GiB * scale)));
  const changedBytes = Math.floor(bigBytes / 100); // 1% overwritten
  const regions = 10;
  const baseRegion = Math.floor(changedBytes / regions);
  const extra = changedBytes - baseRegion * regions; // first `extra` regions get one more byte
  const insertBytes = bigBytes / 1024; // 1 MiB at scale 1
  const insertAt = Math.floor(bigBytes / 2) + 4099; // "the middle", not aligned
  const modRegions = [];
  for (let i = 0; i < regions; i++) {
    const len = baseRegion + (i < extra ? 1 : 0);
    // centred at (2i+1)/20 of the file, shifted by an odd per-region amount so nothing is aligned
    const centre = Math.floor((bigBytes * (2 * i + 1)) / (2 * regions));
    const offset = centre - Math.floor(len / 2) + 4093 * (i + 1);
    modRegions.push({ offset, length: len });
  }
  // sanity: sorted, non-overlapping, inside the file, and not straddling the insertion point
  for (let i = 0; i < regions; i++) {
    const r = modRegions[i];
    if (r.offset < 0 || r.offset + r.length > bigBytes) throw new Error('region outside file');
    if (i > 0 && modRegions[i - 1].offset + modRegions[i - 1].length > r.offset) throw new Error('regions overlap');
    if (r.offset < insertAt && r.offset + r.length > insertAt) throw new Error('region straddles insert');
  }
  const smallFiles = scale === 1 ? 20000 : Math.max(200, Math.round(20000 * scale));
  const filesPerDir = 200;
  return {
    generatorVersion: GENERATOR_VERSION,
    scale,
    big: { name: 'big.bin', bytes: bigBytes, key: KEYS.big, iv: '00'.repeat(16) },
    bigMod: {
      name: 'big-mod.bin',
      bytes: bigBytes + insertBytes,
      key: KEYS.mod,
      regions: modRegions,
      overwrittenBytes: changedBytes,
      insertAt,
      insertBytes,
      realChangedBytes: changedBytes + insertBytes,
    },
    small: {
      name: 'small',
      files: smallFiles,
      dirs: Math.ceil(smallFiles / filesPerDir),
      filesPerDir,
      minBytes: 1024,
      maxBytes: 16384,
      sizeKey: KEYS.sizes,
      contentKey: KEYS.small,
    },
    big10: { name: 'big10.bin', bytes: bigBytes * 10, key: KEYS.big10 },
  };
}

export function dataDir(scale) {
  return path.join(DATA_ROOT, `scale-${normalizeScale(scale)}`);
}

export function smallFilePath(i, filesPerDir = 200) {
  const d = String(Math.floor(i / filesPerDir)).padStart(3, '0');
  return path.join(`d${d}`, `f${String(i).padStart(5, '0')}.bin`);
}

/** Deterministic file sizes for small/: minBytes + (u32 % (maxBytes - minBytes + 1)). */
export function smallFileSizes(spec) {
  const ks = keystream(spec.sizeKey);
  const raw = ks.next(spec.files * 4);
  const span = spec.maxBytes - spec.minBytes + 1;
  const sizes = new Array(spec.files);
  for (let i = 0; i < spec.files; i++) sizes[i] = spec.minBytes + (raw.readUInt32LE(i * 4) % span);
  return sizes;
}

// ---------------------------------------------------------------------------------------------
// stamps

function stampPath(dir, name) {
  return path.join(dir, `.stamp-${name}.json`);
}

async function readStamp(dir, name) {
  try {
    return JSON.parse(await readFile(stampPath(dir, name), 'utf8'));
  } catch {
    return null;
  }
}

async function writeStamp(dir, name, stamp) {
  const tmp = stampPath(dir, name) + '.tmp';
  await writeFile(tmp, JSON.stringify(stamp, null, 2) + '\n');
  await rename(tmp, stampPath(dir, name));
}

function sameSpec(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

async function fileSize(p) {
  try {
    return (await stat(p)).size;
  } catch {
    return -1;
  }
}

// ---------------------------------------------------------------------------------------------
// generators

/** Streams `total` bytes produced by `produce(n)` into `file`; fsyncs; returns sha256 hex. */
async function writeStreamed(file, total, produce) {
  const tmp = file + '.tmp';
  const fh = await open(tmp, 'w');
  const hash = createHash('sha256');
  try {
    let done = 0;
    while (done < total) {
      const n = Math.min(BLOCK, total - done);
      const buf = produce(n);
      hash.update(buf);
      let off = 0;
      while (off < buf.length) {
        const { bytesWritten } = await fh.write(buf, off, buf.length - off);
        off += bytesWritten;
      }
      done += n;
    }
    // flush now, so write-back of generated data never overlaps a timed run
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
  return hash.digest('hex');
}

async function genBig(dir, spec, log) {
  const file = path.join(dir, spec.name);
  const ks = keystream(spec.key);
  const t = process.hrtime.bigint();
  const sha256 = await writeStreamed(file, spec.bytes, (n) => ks.next(n));
  log(`  ${spec.name}: ${spec.bytes} bytes in ${secs(t)} s`);
  return { sha256 };
}

/**
 * big-mod.bin = big.bin keystream with the regions overwritten by the "mod" keystream and
 * insertBytes of "mod" keystream inserted at insertAt (original coordinates). Streams both
 * keystreams block by block (bounded memory) and counts bytes that actually differ.
 */
async function genBigMod(dir, big, mod, log) {
  const file = path.join(dir, mod.name);
  const base = keystream(big.key);
  const repl = keystream(mod.key);
  // Build the output as a list of pieces in original coordinates.
  let pos = 0; // position in the original (base) stream
  let inserted = false;
  let differing = 0;
  const pending = []; // queued output buffers
  let pendingBytes = 0;
  const emit = (b) => {
    pending.push(b);
    pendingBytes += b.length;
  };
  const advance = (limit) => {
    // emit base bytes [pos, limit) with region overwrites applied
    while (pos < limit) {
      const n = Math.min(BLOCK, limit - pos);
      const chunk = base.next(n);
      for (const r of mod.regions) {
        const s = Math.max(r.offset, pos);
        const e = Math.min(r.offset + r.length, pos + n);
        if (s < e) {
          const rb = repl.next(e - s);
          const orig = chunk.subarray(s - pos, e - pos);
          for (let i = 0; i < rb.length; i++) if (rb[i] !== orig[i]) differing++;
          rb.copy(chunk, s - pos);
        }
      }
      emit(chunk);
      pos += n;
    }
  };
  const produce = (n) => {
    while (pendingBytes < n) {
      if (!inserted && pos === mod.insertAt) {
        emit(repl.next(mod.insertBytes));
        inserted = true;
        continue;
      }
      if (inserted && pos >= big.bytes) throw new Error('big-mod generation ran past the end');
      const limit = !inserted && pos < mod.insertAt ? mod.insertAt : big.bytes;
      advance(Math.min(limit, pos + BLOCK));
    }
    const all = pending.length === 1 ? pending[0] : Buffer.concat(pending);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    pending.length = 0;
    pendingBytes = 0;
    if (rest.length) emit(rest);
    return out;
  };
  const t = process.hrtime.bigint();
  const sha256 = await writeStreamed(file, mod.bytes, produce);
  if (!inserted || pos !== big.bytes) throw new Error('big-mod generation did not consume the whole base');
  log(
    `  ${mod.name}: ${mod.bytes} bytes in ${secs(t)} s (${differing} of ${mod.overwrittenBytes} overwritten bytes differ)`,
  );
  return { sha256, differingOverwrittenBytes: differing };
}

async function genSmall(dir, spec, log) {
  const target = path.join(dir, spec.name);
  const tmp = target + '.tmp';
  if (existsSync(tmp)) await rm(tmp, { recursive: true, force: true });
  if (existsSync(target)) await rm(target, { recursive: true, force: true });
  const sizes = smallFileSizes(spec);
  const ks = keystream(spec.contentKey);
  const t = process.hrtime.bigint();
  for (let d = 0; d < spec.dirs; d++)
    await mkdir(path.join(tmp, `d${String(d).padStart(3, '0')}`), { recursive: true });
  let total = 0;
  const hash = createHash('sha256'); // over (relative path, NUL, content) in index order
  const BATCH = 64;
  for (let i = 0; i < spec.files; i += BATCH) {
    const jobs = [];
    for (let j = i; j < Math.min(spec.files, i + BATCH); j++) {
      const rel = smallFilePath(j, spec.filesPerDir);
      const content = ks.next(sizes[j]);
      hash.update(rel.split(path.sep).join('/') + '\0');
      hash.update(content);
      total += content.length;
      jobs.push(writeFile(path.join(tmp, rel), content));
    }
    await Promise.all(jobs);
  }
  await syncTree(tmp);
  await rename(tmp, target);
  log(`  ${spec.name}/: ${spec.files} files, ${total} bytes in ${secs(t)} s`);
  return { totalBytes: total, sha256: hash.digest('hex') };
}

async function syncTree(dir) {
  // one syncfs of the file system is far cheaper than an fsync per file
  spawnSync('sync', ['-f', dir], { stdio: 'ignore' });
}

async function checkSmall(dir, spec, stamp) {
  const root = path.join(dir, spec.name);
  let files = 0;
  let bytes = 0;
  try {
    const dirs = await readdir(root);
    if (dirs.length !== spec.dirs) return false;
    for (const d of dirs) {
      const names = await readdir(path.join(root, d));
      const stats = await Promise.all(names.map((n) => stat(path.join(root, d, n))));
      for (const s of stats) {
        files++;
        bytes += s.size;
      }
    }
  } catch {
    return false;
  }
  return files === spec.files && bytes === stamp.totalBytes;
}

async function fullHash(file) {
  const fh = await open(file, 'r');
  const hash = createHash('sha256');
  const buf = Buffer.alloc(BLOCK);
  try {
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (!bytesRead) break;
      hash.update(buf.subarray(0, bytesRead));
    }
  } finally {
    await fh.close();
  }
  return hash.digest('hex');
}

function secs(t0) {
  return (Number(process.hrtime.bigint() - t0) / 1e9).toFixed(2);
}

// ---------------------------------------------------------------------------------------------
// public entry point

/**
 * Ensures the data set for `scale` exists (generating what is missing or stale) and returns a
 * manifest: absolute paths, sizes, the exact changed byte counts, sha256 digests.
 * opts: { scale, with10g, verify (re-hash big files against the stamp), log }
 */
export async function ensureData(opts = {}) {
  const L = layout(opts.scale ?? 1);
  const log = opts.log ?? ((m) => console.log(m));
  const dir = dataDir(L.scale);
  await mkdir(dir, { recursive: true });
  const generated = [];

  // big.bin
  let sBig = await readStamp(dir, 'big');
  const bigPath = path.join(dir, L.big.name);
  if (!sBig || !sameSpec(sBig.spec, L.big) || (await fileSize(bigPath)) !== L.big.bytes) {
    log(`data: generating ${L.big.name} (${L.big.bytes} bytes) in ${dir}`);
    const r = await genBig(dir, L.big, log);
    sBig = { spec: L.big, ...r, generatedAt: new Date().toISOString() };
    await writeStamp(dir, 'big', sBig);
    generated.push('big');
  }

  // big-mod.bin (depends on big's spec)
  let sMod = await readStamp(dir, 'big-mod');
  const modPath = path.join(dir, L.bigMod.name);
  const modSpec = { base: L.big, mod: L.bigMod };
  if (!sMod || !sameSpec(sMod.spec, modSpec) || (await fileSize(modPath)) !== L.bigMod.bytes) {
    log(`data: generating ${L.bigMod.name} (${L.bigMod.bytes} bytes)`);
    const r = await genBigMod(dir, L.big, L.bigMod, log);
    sMod = { spec: modSpec, ...r, generatedAt: new Date().toISOString() };
    await writeStamp(dir, 'big-mod', sMod);
    generated.push('big-mod');
  }

  // small/
  let sSmall = await readStamp(dir, 'small');
  if (!sSmall || !sameSpec(sSmall.spec, L.small) || !(await checkSmall(dir, L.small, sSmall))) {
    log(`data: generating ${L.small.name}/ (${L.small.files} files in ${L.small.dirs} dirs)`);
    const r = await genSmall(dir, L.small, log);
    sSmall = { spec: L.small, ...r, generatedAt: new Date().toISOString() };
    await writeStamp(dir, 'small', sSmall);
    generated.push('small');
  }

  // big10.bin (on demand)
  let big10 = null;
  if (opts.with10g) {
    const p10 = path.join(dir, L.big10.name);
    let s10 = await readStamp(dir, 'big10');
    const present = s10 && sameSpec(s10.spec, L.big10) && (await fileSize(p10)) === L.big10.bytes;
    const fs = await statfs(dir);
    const free = Number(fs.bavail) * Number(fs.bsize);
    // to generate: the file itself + room for a store holding it (+ margin) = 2.5x; 25 GiB at scale 1
    const need = present ? Math.ceil(L.big10.bytes * 1.5) : Math.ceil(L.big10.bytes * 2.5);
    if (free < need) {
      const msg = `skipped: ${(free / GiB).toFixed(1)} GiB free on ${dir}, need ${(need / GiB).toFixed(1)} GiB`;
      log(`data: ${L.big10.name} ${msg}`);
      big10 = { path: null, bytes: L.big10.bytes, skipped: msg };
    } else {
      if (!present) {
        log(`data: generating ${L.big10.name} (${L.big10.bytes} bytes)`);
        const r = await genBig(dir, L.big10, log);
        s10 = { spec: L.big10, ...r, generatedAt: new Date().toISOString() };
        await writeStamp(dir, 'big10', s10);
        generated.push('big10');
      }
      big10 = { path: p10, bytes: L.big10.bytes, sha256: s10.sha256 };
    }
  }

  if (opts.verify) {
    for (const [p, s] of [
      [bigPath, sBig],
      [modPath, sMod],
    ]) {
      const h = await fullHash(p);
      if (h !== s.sha256)
        throw new Error(`data: ${p} does not match its stamp (sha256 ${h} != ${s.sha256}); delete it to regenerate`);
    }
    log('data: verified big.bin and big-mod.bin against their stamps');
  }

  return {
    scale: L.scale,
    dir,
    generated,
    keys: { ...KEYS, iv: '00'.repeat(16), cipher: 'aes-128-ctr' },
    big: { path: bigPath, bytes: L.big.bytes, sha256: sBig.sha256 },
    bigMod: {
      path: modPath,
      bytes: L.bigMod.bytes,
      sha256: sMod.sha256,
      regions: L.bigMod.regions,
      overwrittenBytes: L.bigMod.overwrittenBytes,
      differingOverwrittenBytes: sMod.differingOverwrittenBytes,
      insertAt: L.bigMod.insertAt,
      insertBytes: L.bigMod.insertBytes,
      realChangedBytes: L.bigMod.realChangedBytes,
    },
    small: {
      path: path.join(dir, L.small.name),
      files: L.small.files,
      dirs: L.small.dirs,
      bytes: sSmall.totalBytes,
      sha256: sSmall.sha256,
    },
    big10,
  };
}

// CLI: node bench/lib/data.mjs [--scale X] [--with-10g] [--verify]
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const get = (f) => {
    const i = args.indexOf(f);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const scale = get('--scale') ?? get('--size') ?? process.env.CAIRN_BENCH_SCALE ?? 1;
  ensureData({ scale, with10g: args.includes('--with-10g'), verify: args.includes('--verify') })
    .then((m) => console.log(JSON.stringify(m, null, 2)))
    .catch((e) => {
      console.error(e);
      process.exit(1);
    });
}
