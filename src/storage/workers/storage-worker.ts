import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { CdcScanner } from '../chunker/index.js';
import { checkFolders } from '../statcache/check-folders.js';
import { RING_HEADER, SMALL_FIELDS, SMALL_OFFSET, SMALL_SIZE } from './protocol.js';
import type {
  CheckPackTask,
  Envelope,
  FileStat,
  HashResult,
  HashTask,
  LargeFileTask,
  MaterializeFile,
  MaterializeSegment,
  PackCheckResult,
  SmallFileTask,
  VerifyFileTask,
  WorkerError,
  WorkerReply,
  WorkerTask,
} from './protocol.js';

/**
 * CPU- and syscall-heavy storage work runs here with synchronous fs calls: on small files a
 * sync open/read/close is several times cheaper than three trips through libuv's pool, and
 * SHA-256 and chunking are pure CPU anyway. One worker per core.
 */
const port = parentPort!;

const BLOCK = 8 * 1024 * 1024;

port.on('message', (env: Envelope<WorkerTask>) => {
  const { taskId, msg } = env;
  const send = (reply: WorkerReply, transfer: ArrayBuffer[] = []) => port.postMessage({ taskId, msg: reply }, transfer);
  try {
    switch (msg.type) {
      case 'small':
        return smallFiles(msg, send);
      case 'large':
        return largeFile(msg, send);
      case 'materialize':
        for (const f of msg.files) materialize(f);
        return send({ type: 'done' });
      case 'hash':
        return send({ type: 'done', result: hashFiles(msg) });
      case 'hash-chunks': {
        const data = Buffer.from(msg.ring, msg.offset, msg.length);
        const ids = msg.chunks.map((c) =>
          createHash('sha256')
            .update(data.subarray(c.offset, c.offset + c.length))
            .digest('hex'),
        );
        return send({ type: 'done', result: { ids } });
      }
      case 'check-pack':
        return send({ type: 'done', result: checkPack(msg) });
      case 'verify-file':
        verifyFile(msg);
        return send({ type: 'done' });
      case 'check-folders':
        return send({
          type: 'done',
          result: checkFolders(Buffer.from(msg.cache, 0, msg.length), msg.records, msg.root, msg.scannedAtMs, msg.file),
        });
      default:
        // A worker older than its caller (a stale build) must fail the task, not leave it waiting.
        throw new Error(`unknown storage task ${(msg as { type: string }).type}`);
    }
  } catch (err) {
    send({
      type: 'error',
      error: toWorkerError(err, msg.type === 'large' ? msg.path : msg.type === 'check-pack' ? msg.path : undefined),
    });
  }
});

function toWorkerError(err: unknown, path?: string): WorkerError {
  const e = err as NodeJS.ErrnoException & { blob?: string; file?: string };
  return {
    code: e.code ?? 'ERROR',
    message: e.message ?? String(err),
    ...(path ? { path } : {}),
    ...(e.blob ? { blob: e.blob } : {}),
    ...(e.file !== undefined ? { file: e.file } : {}),
  };
}

function statOf(fd: number): FileStat {
  const st = fs.fstatSync(fd);
  return { ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs };
}

/**
 * Refuses bytes that were never the file's content at one moment: a file truncated or rewritten
 * while it was read (its size at the end is not what was read, or its times moved since it was
 * opened) yields a mix of before and after. A change between the walk and the open is fine — the
 * bytes read are then one state of the file, recorded as changed — but not one during the read.
 */
function unchangedSinceOpen(fd: number, atOpen: FileStat, read: number): void {
  const now = statOf(fd);
  if (now.size !== read || now.mtimeMs !== atOpen.mtimeMs || now.ctimeMs !== atOpen.ctimeMs)
    throw Object.assign(new Error('file changed while being read'), { code: 'ECHANGED' });
}

function smallFiles(task: SmallFileTask, send: (r: WorkerReply, t?: ArrayBuffer[]) => void): void {
  const sizes = task.sizes;
  const paths = task.paths.split('\0');
  let total = 0;
  for (let i = 0; i < sizes.length; i++) total += sizes[i]!;
  // Non-pooled memory so the whole batch can be transferred to the main thread without a copy.
  const data = Buffer.allocUnsafeSlow(Math.max(total, 1));
  const meta = new Float64Array(sizes.length * SMALL_FIELDS);
  const digests = Buffer.allocUnsafeSlow(Math.max(sizes.length * 32, 1)).fill(0);
  const errors: Array<{ index: number; error: WorkerError }> = [];
  const probe = Buffer.alloc(1);
  let off = 0;
  for (let i = 0; i < sizes.length; i++) {
    const path = paths[i]!;
    const room = sizes[i]!;
    let fd = -1;
    try {
      fd = fs.openSync(path, 'r');
      // No stat here: the walk's lstat, taken before this read, is what the stat cache records
      // (git's index does the same). A change after it changes the file's ctime, so that entry
      // never matches again; a change in the same clock tick is within the racy window, never
      // trusted. Only the bytes read now count, and they must fit the room reserved.
      let n = 0;
      while (n < room) {
        const r = fs.readSync(fd, data, off + n, room - n, n);
        if (r === 0) break;
        n += r;
      }
      if (n === room && fs.readSync(fd, probe, 0, 1, n) > 0)
        throw Object.assign(new Error('file grew while being added'), { code: 'ECHANGED' });
      createHash('sha256')
        .update(data.subarray(off, off + n))
        .digest()
        .copy(digests, i * 32);
      const m = i * SMALL_FIELDS;
      meta[m + SMALL_SIZE] = n;
      meta[m + SMALL_OFFSET] = off;
    } catch (err) {
      errors.push({ index: i, error: toWorkerError(err, path) });
    } finally {
      if (fd >= 0) fs.closeSync(fd);
    }
    off += room;
  }
  send(
    { type: 'small-result', meta, digests: digests.buffer as ArrayBuffer, errors, data: data.buffer as ArrayBuffer },
    [data.buffer as ArrayBuffer, digests.buffer as ArrayBuffer, meta.buffer as ArrayBuffer],
  );
}

/**
 * Large files stream through a ring of slots in shared memory: this worker reads into a free
 * slot and finds chunk boundaries; the main thread hashes, deduplicates and writes straight
 * from the slot, then marks it free. No buffer is allocated or copied per block, and memory
 * stays at the ring's size however large the file.
 */
function largeFile(task: LargeFileTask, send: (r: WorkerReply, t?: ArrayBuffer[]) => void): void {
  const fd = fs.openSync(task.path, 'r');
  try {
    const stat = statOf(fd);
    const { ring, slots, slotSize } = task;
    const states = new Int32Array(ring, 0, slots);
    const scanner = new CdcScanner(task.chunkParams);
    const full = task.mode === 'full';
    const whole = full ? createHash('sha256') : null;
    let prev: Buffer | null = null;
    let carryFrom = 0;
    let carryLen = 0;
    let pos = 0;
    let chunkCount = 0;
    let eof = false;
    for (let seq = 0; !eof; seq++) {
      const slot = seq % slots;
      // Take the slot once the main thread has released it (state 0 → 1).
      while (Atomics.compareExchange(states, slot, 0, 1) !== 0) Atomics.wait(states, slot, 1, 1000);
      const buf = Buffer.from(ring, RING_HEADER + slot * slotSize, slotSize);
      // The unfinished chunk at the end of the previous slot starts this one.
      if (prev && carryLen > 0) prev.copy(buf, 0, carryFrom, carryFrom + carryLen);
      const base = pos - carryLen;
      let filled = carryLen;
      const ends: number[] = [];
      while (filled < slotSize) {
        const n = fs.readSync(fd, buf, filled, slotSize - filled, pos);
        if (n === 0) {
          eof = true;
          break;
        }
        const fresh = buf.subarray(filled, filled + n);
        whole?.update(fresh);
        for (const e of scanner.update(fresh)) ends.push(e);
        filled += n;
        pos += n;
      }
      if (eof) for (const e of scanner.finish()) ends.push(e);
      const chunks: Array<{ id: string; offset: number; length: number }> = [];
      let start = base;
      for (const end of ends) {
        const s0 = start - base;
        const e0 = end - base;
        chunks.push({
          id: full ? createHash('sha256').update(buf.subarray(s0, e0)).digest('hex') : '',
          offset: s0,
          length: e0 - s0,
        });
        start = end;
      }
      chunkCount += chunks.length;
      carryFrom = start - base;
      carryLen = filled - carryFrom;
      prev = buf;
      send({ type: 'large-chunks', slot, chunks });
    }
    unchangedSinceOpen(fd, stat, pos);
    send({
      type: 'large-done',
      digest: whole ? whole.digest('hex') : '',
      size: pos,
      chunkCount,
      stat: { ...stat, size: pos },
    });
  } finally {
    fs.closeSync(fd);
  }
}

function hashFiles(task: HashTask): HashResult[] {
  const out: HashResult[] = [];
  const buf = Buffer.allocUnsafe(BLOCK + task.chunkParams.max);
  for (const f of task.files) {
    let fd = -1;
    try {
      fd = fs.openSync(f.path, 'r');
      const stat = statOf(fd);
      const scanner = new CdcScanner(task.chunkParams);
      const whole = createHash('sha256');
      const chunks: string[] = [];
      let chunk = createHash('sha256');
      let pos = 0;
      for (;;) {
        const n = fs.readSync(fd, buf, 0, buf.length, pos);
        if (n === 0) break;
        const block = buf.subarray(0, n);
        whole.update(block);
        let from = 0;
        for (const end of scanner.update(block)) {
          const rel = end - pos;
          chunk.update(block.subarray(from, rel));
          chunks.push(chunk.digest('hex'));
          chunk = createHash('sha256');
          from = rel;
        }
        chunk.update(block.subarray(from));
        pos += n;
      }
      if (scanner.finish().length > 0) chunks.push(chunk.digest('hex'));
      unchangedSinceOpen(fd, stat, pos);
      out.push({ ok: true, digest: whole.digest('hex'), size: pos, chunks, stat: { ...stat, size: pos } });
    } catch (err) {
      out.push({ ok: false, error: toWorkerError(err, f.path) });
    } finally {
      if (fd >= 0) fs.closeSync(fd);
    }
  }
  return out;
}

/**
 * Consecutive chunks stored back to back are read and written in one go. Runs stay small
 * enough that the bytes are still in cache when hashed and written. What is checked is the
 * whole file: its SHA-256 (computed here as it is written, or by a `verify-file` task for a
 * file written in parallel segments) must be the one its tree entry records before the file
 * gets its name. That one hash covers every chunk (the file is their concatenation), so the
 * chunks are hashed again only to name the damaged blob when the file does not match.
 */
const MATERIALIZE_RUN = 1024 * 1024;
let runBuffer = Buffer.allocUnsafe(0);

function materialize(task: MaterializeFile): void {
  const fds = new Map<string, number>();
  const out = task.create !== undefined ? fs.openSync(task.target, 'wx', task.create) : fs.openSync(task.target, 'r+');
  // With `verify`, the segments are the whole file in order: hash what is written as it goes.
  const whole = task.verify ? createHash('sha256') : null;
  let written = 0;
  try {
    const segs = task.segments;
    for (let i = 0; i < segs.length;) {
      const first = segs[i]!;
      let j = i + 1;
      let len = first.length;
      while (j < segs.length) {
        const prev = segs[j - 1]!;
        const next = segs[j]!;
        const contiguous =
          next.packPath === first.packPath &&
          next.packOffset === prev.packOffset + prev.length &&
          next.fileOffset === prev.fileOffset + prev.length;
        if (!contiguous || len + next.length > MATERIALIZE_RUN) break;
        len += next.length;
        j++;
      }
      let fd = fds.get(first.packPath);
      if (fd === undefined) {
        fd = fs.openSync(first.packPath, 'r');
        fds.set(first.packPath, fd);
      }
      if (runBuffer.length < len) runBuffer = Buffer.allocUnsafe(Math.max(len, MATERIALIZE_RUN));
      const view = runBuffer.subarray(0, len);
      const n = fs.readSync(fd, view, 0, len, first.packOffset);
      if (n < len) {
        // A pack cut short: name the first chunk that is not all there.
        for (let k = i, off = 0; k < j; off += segs[k]!.length, k++)
          if (off + segs[k]!.length > n) throw badBlob(segs[k]!.id);
      }
      if (whole) {
        if (first.fileOffset !== written) throw mismatch(task.verify!.label, 'its chunks are not in order');
        whole.update(view);
      }
      let w = 0;
      while (w < len) w += fs.writeSync(out, view, w, len - w, first.fileOffset + w);
      written += len;
      i = j;
    }
    if (whole) {
      const v = task.verify!;
      if (written !== v.size) throw mismatch(v.label, `its chunks hold ${written} bytes, the tree says ${v.size}`);
      if (whole.digest('hex') !== v.digest)
        throw blameChunk(segs) ?? mismatch(v.label, 'its bytes do not match the SHA-256 the tree records');
    }
  } finally {
    fs.closeSync(out);
    for (const fd of fds.values()) fs.closeSync(fd);
  }
}

function verifyFile(task: VerifyFileTask): void {
  const fd = fs.openSync(task.path, 'r');
  try {
    if (fs.fstatSync(fd).size !== task.size)
      throw mismatch(task.label, `it has ${fs.fstatSync(fd).size} bytes, the tree says ${task.size}`);
    const h = createHash('sha256');
    if (runBuffer.length < BLOCK) runBuffer = Buffer.allocUnsafe(BLOCK);
    let pos = 0;
    for (;;) {
      const n = fs.readSync(fd, runBuffer, 0, BLOCK, pos);
      if (n === 0) break;
      h.update(runBuffer.subarray(0, n));
      pos += n;
    }
    if (pos !== task.size) throw mismatch(task.label, `it has ${pos} bytes, the tree says ${task.size}`);
    if (h.digest('hex') !== task.digest)
      throw blameChunk(task.segments) ?? mismatch(task.label, 'its bytes do not match the SHA-256 the tree records');
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * After a whole-file mismatch: the chunk (if any) whose stored bytes no longer match its id,
 * so the error names the damaged blob (fsck finds the rest). Null when every chunk is intact:
 * then the tree entry itself does not describe its chunks.
 */
function blameChunk(segs: readonly MaterializeSegment[]): Error | null {
  for (const seg of segs) {
    const buf = Buffer.allocUnsafe(seg.length);
    const fd = fs.openSync(seg.packPath, 'r');
    try {
      const n = fs.readSync(fd, buf, 0, seg.length, seg.packOffset);
      if (n !== seg.length || createHash('sha256').update(buf).digest('hex') !== seg.id) return badBlob(seg.id);
    } finally {
      fs.closeSync(fd);
    }
  }
  return null;
}

function badBlob(id: string): Error {
  return Object.assign(new Error(`blob ${id} does not match its digest`), { code: 'CORRUPT_OBJECT', blob: id });
}

/** A file whose chunks are each intact but which is not the file the tree names. */
function mismatch(label: string, why: string): Error {
  return Object.assign(new Error(`file ${label} does not match its tree entry: ${why}`), {
    code: 'CORRUPT_OBJECT',
    file: label,
  });
}

function checkPack(task: CheckPackTask): PackCheckResult {
  // Kept in sync with pack/format.ts; duplicated minimal parsing keeps the worker free of the
  // async reader. Any structural problem is reported, not thrown.
  let fd: number;
  try {
    fd = fs.openSync(task.path, 'r');
  } catch (err) {
    return {
      ok: false,
      error: (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : String(err),
      entries: [],
      badBlobs: [],
      bytes: 0,
    };
  }
  try {
    const size = fs.fstatSync(fd).size;
    const fail = (why: string): PackCheckResult => ({ ok: false, error: why, entries: [], badBlobs: [], bytes: size });
    if (size < 16 + 56) return fail('too short');
    const header = Buffer.alloc(16);
    fs.readSync(fd, header, 0, 16, 0);
    if (header.toString('latin1', 0, 8) !== 'CAIRNPAK') return fail('bad header magic');
    if (header.readUInt32BE(8) !== 1) return fail(`unsupported format version ${header.readUInt32BE(8)}`);
    const footer = Buffer.alloc(56);
    fs.readSync(fd, footer, 0, 56, size - 56);
    if (footer.toString('latin1', 48, 56) !== 'CAIRNEND') return fail('bad footer magic');
    const indexOffset = Number(footer.readBigUInt64BE(0));
    const indexLength = footer.readUInt32BE(8);
    if (indexOffset < 16 || indexOffset + indexLength + 56 !== size) return fail('footer does not match the file size');
    const index = Buffer.alloc(indexLength);
    fs.readSync(fd, index, 0, indexLength, indexOffset);
    const idxDigest = createHash('sha256').update(index).digest('hex');
    if (idxDigest !== footer.toString('hex', 16, 48)) return fail('index digest does not match the footer');
    if (idxDigest !== task.packId) return fail('index digest does not match the pack name');
    if (index.toString('latin1', 0, 8) !== 'CAIRNIDX') return fail('bad index magic');
    const count = index.readUInt32BE(8);
    if (indexLength !== 16 + 48 * count) return fail('index length does not match its count');
    const entries: PackCheckResult['entries'] = [];
    const bad: string[] = [];
    let buf = Buffer.allocUnsafe(1 << 20);
    let end = 16;
    for (let i = 0, o = 16; i < count; i++, o += 48) {
      const id = index.toString('hex', o, o + 32);
      const offset = Number(index.readBigUInt64BE(o + 32));
      const length = index.readUInt32BE(o + 40);
      const kind = index.readUInt8(o + 44);
      if (offset < end || offset + length > indexOffset || (kind !== 1 && kind !== 2))
        return fail(`index entry ${i} is invalid`);
      end = offset + length;
      entries.push({ id, offset, length, kind });
      if (buf.length < length) buf = Buffer.allocUnsafe(length);
      const view = buf.subarray(0, length);
      const n = fs.readSync(fd, view, 0, length, offset);
      if (n !== length || createHash('sha256').update(view).digest('hex') !== id) bad.push(id);
    }
    return { ok: true, entries, badBlobs: bad, bytes: size };
  } finally {
    fs.closeSync(fd);
  }
}
