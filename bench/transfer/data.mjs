// Deterministic data for the `transfer` suite, in bench/.data/transfer/scale-<X>/ (gitignored),
// generated once per scale and reused (a stamp file is written after each artifact is complete).
//
// Every byte comes from AES-128-CTR keystreams (bench/lib/data.mjs `keystream`), so the data is
// the same on every machine:
//
//   small/v1/   20,000 files (× scale, at least 200) of 256 B – 12 KiB, log-uniform sizes
//               (median ≈ 1.8 KiB, mean ≈ 3.1 KiB, ≈ 62 MB in all at scale 1), 200 per folder:
//               small/v1/d042/rec-08400.json. A realistic mix, chosen per file from the keystream:
//               ~40 % JSON records (.json), ~30 % CSV rows (.csv), ~30 % binary (.bin, random
//               bytes: thumbnails, embeddings). Every file is unique (its index is in its text;
//               binary bytes are keystream), so neither tool gains from duplicate content.
//               keys: "cairn-xfer-meta!" (kind + size per file), "cairn-xfer-body!" (contents)
//   small/v2/   small/v1 with 1 % of the files (index % 100 == 37) rewritten with new content of
//               the same size (key "cairn-xfer-smod!"); the other 99 % are hard links to v1.
//   big/v1/big.bin   2^30 bytes at scale 1 (2^30 × scale rounded to a power of two, ≥ 4 MiB),
//                    key "cairn-xfer-big!!"
//   big/v2/big.bin   big/v1/big.bin with floor(size / 100) bytes (1 %) overwritten in 5 contiguous
//                    regions (near-equal, centred at 10 %, 30 %, … 90 % of the file and shifted by
//                    odd amounts so nothing is aligned), key "cairn-xfer-bmod!"; same size and name.
//                    "Real change" = the overwritten bytes (10,737,418 at scale 1); the count of
//                    bytes that actually differ (≈ 255/256 of those) is in the manifest too.
//
// Run directly:  node bench/transfer/data.mjs [--scale X]

import { createHash } from 'node:crypto';
import { open, mkdir, readFile, writeFile, rename, rm, stat, readdir, link } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { keystream, normalizeScale, DATA_ROOT } from '../lib/data.mjs';

export const TRANSFER_GENERATOR_VERSION = 1;
const KEYS = {
  meta: 'cairn-xfer-meta!',
  body: 'cairn-xfer-body!',
  smallMod: 'cairn-xfer-smod!',
  big: 'cairn-xfer-big!!',
  bigMod: 'cairn-xfer-bmod!',
};
const GiB = 2 ** 30;
const MiB = 2 ** 20;
const BLOCK = 4 * MiB;
const KINDS = ['json', 'csv', 'bin'];

export function transferLayout(scaleIn = 1) {
  const scale = normalizeScale(scaleIn);
  const bigBytes = scale === 1 ? GiB : Math.max(4 * MiB, 2 ** Math.round(Math.log2(GiB * scale)));
  const overwritten = Math.floor(bigBytes / 100);
  const nRegions = 5;
  const base = Math.floor(overwritten / nRegions);
  const extra = overwritten - base * nRegions;
  const regions = [];
  for (let i = 0; i < nRegions; i++) {
    const len = base + (i < extra ? 1 : 0);
    const centre = Math.floor((bigBytes * (2 * i + 1)) / (2 * nRegions));
    regions.push({ offset: centre - Math.floor(len / 2) + 4093 * (i + 1), length: len });
  }
  for (let i = 0; i < nRegions; i++) {
    const r = regions[i];
    if (r.offset < 0 || r.offset + r.length > bigBytes) throw new Error('region outside file');
    if (i > 0 && regions[i - 1].offset + regions[i - 1].length > r.offset) throw new Error('regions overlap');
  }
  const files = scale === 1 ? 20000 : Math.max(200, Math.round(20000 * scale));
  return {
    generatorVersion: TRANSFER_GENERATOR_VERSION,
    scale,
    small: {
      files,
      filesPerDir: 200,
      dirs: Math.ceil(files / 200),
      minBytes: 256,
      maxBytes: 12288,
      changeEvery: 100,
      changeAt: 37,
      keys: { meta: KEYS.meta, body: KEYS.body, mod: KEYS.smallMod },
    },
    big: { bytes: bigBytes, key: KEYS.big, modKey: KEYS.bigMod, regions, overwrittenBytes: overwritten },
  };
}

export function transferDataDir(scale) {
  return path.join(DATA_ROOT, 'transfer', `scale-${normalizeScale(scale)}`);
}

// ---------------------------------------------------------------------------------------------
// small files

/** Per file: kind, size and relative path, from the "meta" keystream (8 bytes per file). */
export function smallFileSpecs(spec) {
  const raw = keystream(spec.keys.meta).next(spec.files * 8);
  const out = new Array(spec.files);
  const ratio = spec.maxBytes / spec.minBytes;
  for (let i = 0; i < spec.files; i++) {
    const k = raw.readUInt32LE(i * 8) % 10; // 0-3 json, 4-6 csv, 7-9 bin
    const kind = k < 4 ? 'json' : k < 7 ? 'csv' : 'bin';
    const u = raw.readUInt32LE(i * 8 + 4) / 2 ** 32;
    const size = Math.min(spec.maxBytes, Math.round(spec.minBytes * Math.pow(ratio, u)));
    const d = `d${String(Math.floor(i / spec.filesPerDir)).padStart(3, '0')}`;
    out[i] = { index: i, kind, size, rel: path.join(d, `rec-${String(i).padStart(5, '0')}.${kind}`) };
  }
  return out;
}

const WORDS = [
  'alpha',
  'bravo',
  'cedar',
  'delta',
  'ember',
  'fjord',
  'gamma',
  'harbor',
  'indigo',
  'juniper',
  'kelvin',
  'lumen',
  'maple',
  'nimbus',
  'onyx',
  'prism',
  'quartz',
  'raven',
  'sierra',
  'tundra',
  'umber',
  'vertex',
  'willow',
  'xenon',
  'yarrow',
  'zephyr',
];
const LABELS = ['cat', 'dog', 'bird', 'car', 'tree', 'boat', 'plane', 'house'];

/** Text of exactly `size` bytes (ASCII) for a json/csv file; its randomness comes from keystream `ks`. */
function textContent(kind, index, size, ks) {
  const parts = [];
  let len = 0;
  const r = ks.next(Math.max(64, size)); // plenty of randomness: ≤ 8 bytes per ≥ 40-byte record
  let p = 0;
  const byte = () => r[p++ % r.length];
  const u16 = () => byte() | (byte() << 8);
  let row = 0;
  if (kind === 'csv') {
    const head = 'id,ts,sensor,value,label,note\n';
    parts.push(head);
    len += head.length;
    while (len < size) {
      const line = `${index * 1000 + row},${1700000000 + index * 60 + row},s${u16() % 512},${(u16() / 65.535).toFixed(3)},${LABELS[byte() % LABELS.length]},${WORDS[byte() % WORDS.length]} ${WORDS[byte() % WORDS.length]}\n`;
      parts.push(line);
      len += line.length;
      row++;
    }
  } else {
    parts.push('[');
    len += 1;
    while (len < size) {
      const rec = `${row ? ',' : ''}{"id":${index * 1000 + row},"user":"u${u16()}","score":${(u16() / 65535).toFixed(4)},"tags":["${WORDS[byte() % WORDS.length]}","${LABELS[byte() % LABELS.length]}"],"ok":${byte() & 1 ? 'true' : 'false'}}\n`;
      parts.push(rec);
      len += rec.length;
      row++;
    }
  }
  const s = parts.join('');
  // exactly `size` bytes; the tail ends in a newline
  return Buffer.from(s.length >= size ? s.slice(0, size - 1) + '\n' : s.padEnd(size - 1, ' ') + '\n', 'ascii');
}

function fileContent(f, ks) {
  return f.kind === 'bin' ? ks.next(f.size) : textContent(f.kind, f.index, f.size, ks);
}

async function writeTree(root, files, contentOf) {
  const dirs = new Set(files.map((f) => path.dirname(f.rel)));
  for (const d of dirs) await mkdir(path.join(root, d), { recursive: true });
  const hash = createHash('sha256'); // over (relative path, NUL, content) in index order
  let bytes = 0;
  const BATCH = 64;
  for (let i = 0; i < files.length; i += BATCH) {
    const jobs = [];
    for (const f of files.slice(i, i + BATCH)) {
      const c = contentOf(f);
      if (c.length !== f.size) throw new Error(`internal: ${f.rel} is ${c.length} bytes, not ${f.size}`);
      hash.update(f.rel.split(path.sep).join('/') + '\0');
      hash.update(c);
      bytes += c.length;
      jobs.push(writeFile(path.join(root, f.rel), c));
    }
    await Promise.all(jobs);
  }
  return { bytes, sha256: hash.digest('hex') };
}

async function genSmall(dir, spec, log) {
  const root = path.join(dir, 'small');
  const files = smallFileSpecs(spec);
  const t = process.hrtime.bigint();
  // v1: everything from the body keystream (one stream, in index order)
  const v1 = path.join(root, 'v1');
  const v1tmp = v1 + '.tmp';
  await rm(v1tmp, { recursive: true, force: true });
  const body = keystream(spec.keys.body);
  const r1 = await writeTree(v1tmp, files, (f) => fileContent(f, body));
  // v2: hard links to v1 except every changeEvery-th file, rewritten (same size, new content)
  const v2 = path.join(root, 'v2');
  const v2tmp = v2 + '.tmp';
  await rm(v2tmp, { recursive: true, force: true });
  const changed = files.filter((f) => f.index % spec.changeEvery === spec.changeAt);
  const mod = keystream(spec.keys.mod);
  const r2 = await writeTree(v2tmp, changed, (f) =>
    f.kind === 'bin' ? mod.next(f.size) : textContent(f.kind, f.index + 1_000_000, f.size, mod),
  );
  const changedSet = new Set(changed.map((f) => f.index));
  for (const f of files) if (!changedSet.has(f.index)) await link(path.join(v1tmp, f.rel), path.join(v2tmp, f.rel));
  spawnSync('sync', ['-f', root], { stdio: 'ignore' });
  await rm(v1, { recursive: true, force: true });
  await rm(v2, { recursive: true, force: true });
  await rename(v1tmp, v1);
  await rename(v2tmp, v2);
  const kinds = Object.fromEntries(KINDS.map((k) => [k, files.filter((f) => f.kind === k).length]));
  const sizes = files.map((f) => f.size).sort((a, b) => a - b);
  log(
    `  small/v1: ${files.length} files, ${r1.bytes} bytes; small/v2: ${changed.length} files rewritten (${r2.bytes} bytes), the rest hard links; ${secs(t)} s`,
  );
  return {
    files: files.length,
    bytes: r1.bytes,
    sha256: r1.sha256,
    kinds,
    medianBytes: sizes[Math.floor(sizes.length / 2)],
    changedFiles: changed.length,
    changedBytes: r2.bytes,
    changedSha256: r2.sha256,
  };
}

async function checkSmall(dir, spec, stamp) {
  for (const v of ['v1', 'v2']) {
    let files = 0;
    let bytes = 0;
    try {
      const root = path.join(dir, 'small', v);
      const dirs = await readdir(root);
      if (dirs.length !== spec.dirs) return false;
      for (const d of dirs) {
        const names = await readdir(path.join(root, d));
        const st = await Promise.all(names.map((n) => stat(path.join(root, d, n))));
        for (const s of st) {
          files++;
          bytes += s.size;
        }
      }
    } catch {
      return false;
    }
    if (files !== spec.files || bytes !== stamp.bytes) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// the big file and its 1 %-changed version

async function writeStreamed(file, total, produce) {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = file + '.tmp';
  const fh = await open(tmp, 'w');
  const hash = createHash('sha256');
  try {
    let done = 0;
    while (done < total) {
      const n = Math.min(BLOCK, total - done);
      const buf = produce(n, done);
      hash.update(buf);
      let off = 0;
      while (off < buf.length) off += (await fh.write(buf, off, buf.length - off)).bytesWritten;
      done += n;
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
  return hash.digest('hex');
}

async function genBig(dir, spec, log) {
  const t = process.hrtime.bigint();
  const base = keystream(spec.key);
  const sha1 = await writeStreamed(path.join(dir, 'big', 'v1', 'big.bin'), spec.bytes, (n) => base.next(n));
  // v2: the same keystream with the regions overwritten by the "mod" keystream (in file order)
  const base2 = keystream(spec.key);
  const repl = keystream(spec.modKey);
  let differing = 0;
  const sha2 = await writeStreamed(path.join(dir, 'big', 'v2', 'big.bin'), spec.bytes, (n, pos) => {
    const chunk = base2.next(n);
    for (const r of spec.regions) {
      const s = Math.max(r.offset, pos);
      const e = Math.min(r.offset + r.length, pos + n);
      if (s >= e) continue;
      const rb = repl.next(e - s);
      const orig = chunk.subarray(s - pos, e - pos);
      for (let i = 0; i < rb.length; i++) if (rb[i] !== orig[i]) differing++;
      rb.copy(chunk, s - pos);
    }
    return chunk;
  });
  log(
    `  big/v1/big.bin + big/v2/big.bin: ${spec.bytes} bytes each, ${spec.overwrittenBytes} bytes overwritten in v2 (${differing} differ); ${secs(t)} s`,
  );
  return { sha256: sha1, v2Sha256: sha2, differingBytes: differing };
}

// ---------------------------------------------------------------------------------------------

function secs(t0) {
  return (Number(process.hrtime.bigint() - t0) / 1e9).toFixed(2);
}

async function readStamp(dir, name) {
  try {
    return JSON.parse(await readFile(path.join(dir, `.stamp-${name}.json`), 'utf8'));
  } catch {
    return null;
  }
}

async function writeStamp(dir, name, stamp) {
  const p = path.join(dir, `.stamp-${name}.json`);
  await writeFile(p + '.tmp', JSON.stringify(stamp, null, 2) + '\n');
  await rename(p + '.tmp', p);
}

async function size(p) {
  try {
    return (await stat(p)).size;
  } catch {
    return -1;
  }
}

/** Ensures the transfer data for `scale` exists; returns the manifest (paths, sizes, changes). */
export async function ensureTransferData({ scale = 1, log = console.error } = {}) {
  const L = transferLayout(scale);
  const dir = transferDataDir(L.scale);
  await mkdir(dir, { recursive: true });
  const generated = [];

  let sSmall = await readStamp(dir, 'small');
  if (!sSmall || JSON.stringify(sSmall.spec) !== JSON.stringify(L.small) || !(await checkSmall(dir, L.small, sSmall))) {
    log(`transfer data: generating small/v1 and small/v2 (${L.small.files} files each) in ${dir}`);
    sSmall = { spec: L.small, ...(await genSmall(dir, L.small, log)), generatedAt: new Date().toISOString() };
    await writeStamp(dir, 'small', sSmall);
    generated.push('small');
  }

  let sBig = await readStamp(dir, 'big');
  const v1 = path.join(dir, 'big', 'v1', 'big.bin');
  const v2 = path.join(dir, 'big', 'v2', 'big.bin');
  if (
    !sBig ||
    JSON.stringify(sBig.spec) !== JSON.stringify(L.big) ||
    (await size(v1)) !== L.big.bytes ||
    (await size(v2)) !== L.big.bytes
  ) {
    log(`transfer data: generating big/v1/big.bin and big/v2/big.bin (${L.big.bytes} bytes each)`);
    sBig = { spec: L.big, ...(await genBig(dir, L.big, log)), generatedAt: new Date().toISOString() };
    await writeStamp(dir, 'big', sBig);
    generated.push('big');
  }

  return {
    scale: L.scale,
    dir,
    generated,
    keys: { ...KEYS, cipher: 'aes-128-ctr', iv: '00'.repeat(16) },
    small: {
      v1: path.join(dir, 'small', 'v1'),
      v2: path.join(dir, 'small', 'v2'),
      files: sSmall.files,
      dirs: L.small.dirs,
      bytes: sSmall.bytes,
      sha256: sSmall.sha256,
      kinds: sSmall.kinds,
      minBytes: L.small.minBytes,
      maxBytes: L.small.maxBytes,
      medianBytes: sSmall.medianBytes,
      changedFiles: sSmall.changedFiles,
      changedBytes: sSmall.changedBytes,
    },
    big: {
      v1: v1,
      v2: v2,
      bytes: L.big.bytes,
      sha256: sBig.sha256,
      v2Sha256: sBig.v2Sha256,
      regions: L.big.regions,
      overwrittenBytes: L.big.overwrittenBytes,
      differingBytes: sBig.differingBytes,
    },
  };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const i = args.indexOf('--scale');
  const scale = i >= 0 ? args[i + 1] : (process.env.CAIRN_BENCH_SCALE ?? 1);
  ensureTransferData({ scale })
    .then((m) => console.log(JSON.stringify(m, null, 2)))
    .catch((e) => {
      console.error(e);
      process.exit(1);
    });
}
