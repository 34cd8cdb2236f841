import { createHash } from 'node:crypto';
import { canonicalJson } from '../../core/canonical-json.js';
import { CairnError } from '../../core/errors.js';
import { checkSegment, symlinkStaysInside } from '../../core/paths.js';

/**
 * A tree node lists one directory. Nodes are stored as blobs (kind 2) whose id is the
 * SHA-256 of their canonical JSON, so identical directories are stored once and a version's
 * id — the digest of its root node — commits to every byte below it.
 */
export type FileMode = '644' | '755';

export interface FileEntry {
  name: string;
  type: 'file';
  size: number;
  mode: FileMode;
  /** SHA-256 of the whole file (hex). */
  digest: string;
  /** Chunk ids in order; omitted when the file is exactly one chunk (then it equals `digest`) or empty. */
  chunks?: string[];
}

export interface DirEntry {
  name: string;
  type: 'dir';
  /** Id of the child node. */
  tree: string;
  /** Total file bytes and file count below, so stats need not walk the subtree. */
  size: number;
  files: number;
}

export interface SymlinkEntry {
  name: string;
  type: 'symlink';
  target: string;
}

export type TreeEntry = FileEntry | DirEntry | SymlinkEntry;

export interface TreeNode {
  v: 1;
  entries: TreeEntry[];
}

export const EMPTY_FILE_DIGEST = createHash('sha256').update('').digest('hex');

/** File chunk ids, expanding the one-chunk shorthand. */
export function fileChunks(e: FileEntry): string[] {
  if (e.chunks) return e.chunks;
  return e.size === 0 ? [] : [e.digest];
}

/** Byte order of the UTF-8 encodings: the same order in every language, unlike UTF-16 sorting. */
export function compareNames(a: string, b: string): number {
  if (isAscii(a) && isAscii(b)) return a < b ? -1 : a > b ? 1 : 0;
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export function encodeTree(node: TreeNode): { id: string; bytes: Buffer } {
  const bytes = Buffer.from(fastCanonical(node) ?? canonicalJson(node), 'utf8');
  return { id: createHash('sha256').update(bytes).digest('hex'), bytes };
}

/**
 * The canonical JSON of a node whose entries have exactly the fields of their type, written
 * field by field in JCS key order (`add` encodes one node per folder: the generic serializer
 * sorted the keys of every entry, ~8 % of the main thread at 10^5 files). Null for anything
 * else (extra or missing fields, a non-finite number, a lone surrogate): the generic path then
 * decides, so the bytes are always those of `canonicalJson`.
 */
function fastCanonical(node: TreeNode): string | null {
  let n = 0;
  for (const k in node) if ((node as unknown as Record<string, unknown>)[k] !== undefined) n++;
  if (n !== 2 || node.v !== 1 || !Array.isArray(node.entries)) return null;
  let out = '{"entries":[';
  const entries = node.entries;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    const s = fastEntry(e);
    if (s === null) return null;
    out += i === 0 ? s : `,${s}`;
  }
  return `${out}],"v":1}`;
}

function fastEntry(e: TreeEntry): string | null {
  if (e === null || typeof e !== 'object' || Object.getPrototypeOf(e) !== Object.prototype) return null;
  let n = 0;
  for (const k in e) if ((e as unknown as Record<string, unknown>)[k] !== undefined) n++;
  if (!fastStr(e.name)) return null;
  if (e.type === 'file') {
    const chunks = e.chunks;
    if (n !== (chunks === undefined ? 5 : 6) || !fastNum(e.size) || (e.mode !== '644' && e.mode !== '755')) return null;
    if (!fastStr(e.digest)) return null;
    let c = '';
    if (chunks !== undefined) {
      if (!Array.isArray(chunks)) return null;
      for (let i = 0; i < chunks.length; i++) {
        const id = chunks[i];
        if (!fastStr(id)) return null;
        c += i === 0 ? JSON.stringify(id) : `,${JSON.stringify(id)}`;
      }
      c = `"chunks":[${c}],`;
    }
    return `{${c}"digest":${JSON.stringify(e.digest)},"mode":"${e.mode}","name":${JSON.stringify(e.name)},"size":${JSON.stringify(e.size)},"type":"file"}`;
  }
  if (e.type === 'dir') {
    if (n !== 5 || !fastNum(e.files) || !fastNum(e.size) || !fastStr(e.tree)) return null;
    return `{"files":${JSON.stringify(e.files)},"name":${JSON.stringify(e.name)},"size":${JSON.stringify(e.size)},"tree":${JSON.stringify(e.tree)},"type":"dir"}`;
  }
  if (e.type === 'symlink') {
    if (n !== 3 || !fastStr(e.target)) return null;
    return `{"name":${JSON.stringify(e.name)},"target":${JSON.stringify(e.target)},"type":"symlink"}`;
  }
  return null;
}

function fastStr(s: unknown): s is string {
  return typeof s === 'string' && !LONE_SURROGATE.test(s);
}

function fastNum(x: unknown): x is number {
  return typeof x === 'number' && Number.isFinite(x);
}

/**
 * Parses and validates a node read from the store. Remote or tampered nodes must not be able
 * to smuggle in unsafe names, so every rule is checked here, not only when writing.
 */
export function decodeTree(bytes: Uint8Array, id: string): TreeNode {
  let raw: unknown;
  try {
    // Strict UTF-8: a lossy decode would turn a bad byte into U+FFFD and so invent a name the
    // stored tree never held. A BOM is kept (and then fails JSON.parse): it is not canonical.
    raw = JSON.parse(UTF8.decode(bytes));
  } catch {
    throw bad(id, 'not JSON');
  }
  const node = raw as TreeNode;
  if (!node || typeof node !== 'object' || node.v !== 1 || !Array.isArray(node.entries))
    throw bad(id, 'not a version 1 tree node');
  let prev: string | null = null;
  for (const e of node.entries) {
    if (!e || typeof e !== 'object' || typeof e.name !== 'string') throw bad(id, 'entry without a name');
    try {
      checkSegment(e.name);
      // A \u escape can still smuggle in a lone surrogate, which has no UTF-8 encoding.
      if (LONE_SURROGATE.test(e.name))
        throw new CairnError('PATH_UNSAFE', `refusing file name ${JSON.stringify(e.name)}: not valid Unicode`);
    } catch (err) {
      throw new CairnError('PATH_UNSAFE', `tree ${id} holds an unsafe name ${JSON.stringify(e.name)}`, {
        cause: err,
        data: { tree: id, name: e.name },
      });
    }
    if (prev !== null && compareNames(prev, e.name) >= 0)
      throw bad(id, `entries not sorted or duplicated at ${JSON.stringify(e.name)}`);
    prev = e.name;
    switch (e.type) {
      case 'file':
        if (!isCount(e.size) || !isHex(e.digest) || (e.mode !== '644' && e.mode !== '755'))
          throw bad(id, `bad file entry ${e.name}`);
        if (e.chunks !== undefined && (!Array.isArray(e.chunks) || !e.chunks.every(isHex)))
          throw bad(id, `bad chunk list for ${e.name}`);
        break;
      case 'dir':
        if (!isHex(e.tree) || !isCount(e.size) || !isCount(e.files)) throw bad(id, `bad directory entry ${e.name}`);
        break;
      case 'symlink':
        if (typeof e.target !== 'string') throw bad(id, `bad symlink entry ${e.name}`);
        break;
      default:
        throw bad(id, `unknown entry type for ${(e as { name: string }).name}`);
    }
  }
  return node;
}

/** Symlinks are kept only when they resolve inside the version; `path` is the link's full path. */
export function checkSymlink(path: string, target: string): void {
  if (!symlinkStaysInside(path, target)) {
    throw new CairnError('PATH_UNSAFE', `symlink ${path} -> ${target} points outside the dataset`, {
      data: { path, target },
      hint: 'replace the link with the file it points to, or remove it',
    });
  }
}

// Digests only need the right shape here: a malformed one names no stored blob and fails as
// MISSING_OBJECT when used. Names, which could escape a checkout, get the full check.
function isHex(s: unknown): s is string {
  return typeof s === 'string' && s.length === 64;
}

function isCount(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}

function bad(id: string, why: string): CairnError {
  return new CairnError('CORRUPT_OBJECT', `tree ${id} is malformed: ${why}`, { data: { tree: id } });
}
