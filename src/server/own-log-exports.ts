import { createReadStream } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { OwnObjects } from '../app/server-store.js';
import { sha256Hex } from '../core/digest.js';
import { CairnError, isCairnError } from '../core/errors.js';

/**
 * The exports of the server's own log, kept in the store (`own-log/`) so that every server
 * process serves the same ones (docs/SERVER.md "What a pull from the server brings"). An export
 * is named by its size (`own-log/<size>/`); each file is cut into parts of at most PART_BYTES at
 * line ends, so it is written and served a part at a time; its manifest is written last, and
 * `latest.json` names the newest one. Nothing here is kept in memory.
 */
export interface ExportHead {
  workspace: string;
  origin: string;
  size: number;
  root: string;
  /** Digest of the served state it was made for: every row of that state has its event in it. */
  state: string;
  /** When it was written (ms, the writing host's clock): exports a pull may still read are kept. */
  created: number;
}

export interface Manifest extends ExportHead {
  /** Each file of the bundle (`files.json` aside) with the sizes of its parts. */
  files: Array<{ path: string; parts: number[] }>;
}

/** Largest part of a file in the store: what serving one download holds in memory at a time. */
export const PART_BYTES = 1024 * 1024;
/** The newest exports kept whatever their age. */
export const KEEP_EXPORTS = 4;
/** Older exports kept this long: a pull that read a list from one still reads its files. */
export const EXPORT_GRACE_MS = 15 * 60_000;

const LATEST = 'latest.json';
const dirOf = (size: number) => `${String(size).padStart(12, '0')}/`;
const manifestKey = (size: number) => `${dirOf(size)}manifest.json`;
const partKey = (size: number, path: string, n: number) => `${dirOf(size)}files/${path}/${n}`;
const pinKey = (who: string) => `readers/${sha256Hex(who)}.json`;

/** The most of an export's JSON read (a manifest lists a few bytes per MiB of log: far less). */
const JSON_BYTES = 64 * 1024 * 1024;

async function getJson<T>(own: OwnObjects, key: string): Promise<T | null> {
  try {
    return JSON.parse((await own.get(key, { maxBytes: JSON_BYTES })).toString('utf8')) as T;
  } catch (err) {
    if (isCairnError(err, 'NOT_FOUND')) return null;
    throw err;
  }
}

/** The newest export, or null before the first. */
export function latestExport(own: OwnObjects): Promise<ExportHead | null> {
  return getJson<ExportHead>(own, LATEST);
}

/** The manifest of the export at `size`, or null once it is collected (or never was). */
export function manifestOf(own: OwnObjects, size: number): Promise<Manifest | null> {
  return getJson<Manifest>(own, manifestKey(size));
}

/**
 * Writes the bundle in `dir` as the export `head`, a part at a time, then its manifest, then
 * names it the latest (unless a newer one is), then collects what is no longer kept. Run under
 * `own.exclusive`: one export at a time, across processes.
 */
export async function publishExport(own: OwnObjects, dir: string, head: ExportHead, now: number): Promise<Manifest> {
  const files: Manifest['files'] = [];
  const paths = (await readdir(dir, { recursive: true, withFileTypes: true }))
    .filter((f) => f.isFile())
    .map((f) => relative(dir, join(f.parentPath, f.name)).split('\\').join('/'))
    .sort();
  for (const path of paths) {
    const parts: number[] = [];
    for await (const part of lineParts(join(dir, path), PART_BYTES)) {
      await own.put(partKey(head.size, path, parts.length), part);
      parts.push(part.length);
    }
    files.push({ path, parts });
  }
  const manifest: Manifest = { ...head, files };
  await own.put(manifestKey(head.size), Buffer.from(JSON.stringify(manifest)));
  const latest = await latestExport(own);
  if (!latest || latest.size <= head.size) await own.put(LATEST, Buffer.from(JSON.stringify(head)));
  await collectExports(own, now);
  return manifest;
}

/** The file's bytes in parts of at most `max` bytes, each ending at a line end (a longer line: alone). */
export async function* lineParts(path: string, max: number): AsyncGenerator<Buffer> {
  let held: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>) {
    held.push(chunk);
    bytes += chunk.length;
    if (bytes < max) continue;
    let all = Buffer.concat(held);
    while (all.length >= max) {
      const nl = all.lastIndexOf(10, max - 1);
      const cut = nl >= 0 ? nl + 1 : all.indexOf(10, max) + 1;
      if (cut === 0) break;
      yield all.subarray(0, cut);
      all = all.subarray(cut);
    }
    held = [Buffer.from(all)];
    bytes = all.length;
  }
  if (bytes > 0) yield Buffer.concat(held);
}

/** The parts of one file of an export, read one at a time. */
export async function* partsOf(own: OwnObjects, m: Manifest, path: string): AsyncGenerator<Buffer> {
  const file = m.files.find((f) => f.path === path);
  // Each part read no larger than the manifest recorded it.
  for (let n = 0; n < (file?.parts.length ?? 0); n++)
    yield await own.get(partKey(m.size, path, n), { maxBytes: file!.parts[n]! });
}

/** `files.json` of an export: its files' paths, as a pull downloads them. */
export function fileList(m: Manifest): Buffer {
  return Buffer.from(JSON.stringify(m.files.map((f) => f.path).sort()));
}

/** Remembers, in the store, which export `who` read a file list of: their next files come from it. */
export async function pinExport(own: OwnObjects, who: string, size: number): Promise<void> {
  await own.put(pinKey(who), Buffer.from(JSON.stringify({ size })));
}

/** The export `who` last read a file list of (null: none yet). */
export async function pinnedExport(own: OwnObjects, who: string): Promise<number | null> {
  return (await getJson<{ size: number }>(own, pinKey(who)))?.size ?? null;
}

/**
 * The exports to delete of those in the store (size, and when written; a folder without a
 * manifest: null, debris of an export that stopped midway, since exports run one at a time):
 * all but the newest `keep` and those younger than `graceMs`. Pure.
 */
export function expiredExports(
  exports: ReadonlyArray<{ size: number; created: number | null }>,
  now: number,
  keep = KEEP_EXPORTS,
  graceMs = EXPORT_GRACE_MS,
): number[] {
  const complete = exports.filter((e) => e.created !== null).sort((a, b) => b.size - a.size);
  const kept = new Set(complete.slice(0, keep).map((e) => e.size));
  return exports
    .filter((e) => !kept.has(e.size) && (e.created === null || now - e.created >= graceMs))
    .map((e) => e.size)
    .sort((a, b) => a - b);
}

/** Deletes the exports no longer kept: the manifest first, so no reader starts on a half-deleted one. */
async function collectExports(own: OwnObjects, now: number): Promise<void> {
  const bySize = new Map<number, string[]>();
  for (const o of await own.list()) {
    const m = /^(\d{12})\//.exec(o.key);
    if (!m) continue;
    const size = Number(m[1]);
    bySize.set(size, [...(bySize.get(size) ?? []), o.key]);
  }
  const exports = await Promise.all(
    [...bySize.keys()].map(async (size) => ({ size, created: (await manifestOf(own, size))?.created ?? null })),
  );
  for (const size of expiredExports(exports, now)) {
    const keys = bySize.get(size)!;
    const manifest = manifestKey(size);
    if (keys.includes(manifest)) await own.delete(manifest);
    for (const k of keys) if (k !== manifest) await own.delete(k);
  }
}

/** The answer for a file of the server's bundle that its export lacks, or for an export collected under a pull. */
export function noFile(workspace: string, file: string, why = ''): CairnError {
  return new CairnError('NOT_FOUND', `the store has no object audit/${workspace}/${file}${why}`, {
    data: { key: `audit/${workspace}/${file}` },
    ...(why ? { hint: 'pull again: the server has exported its log anew since this pull read the file list' } : {}),
  });
}
