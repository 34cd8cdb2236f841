import { isUtf8 } from 'node:buffer';
import * as fs from 'node:fs';
import { CairnError, ioError } from '../../core/errors.js';

/**
 * Node decodes a listing's names as UTF-8 and puts U+FFFD for bytes that are not: such a name
 * names no file, and a tree (docs/FORMAT.md) stores names as UTF-8. Every walk of a user's tree
 * calls this for a listed name that holds U+FFFD (the common name costs one `includes`): the
 * folder is listed again as bytes and a name that is not valid UTF-8 is refused. A name that
 * really holds U+FFFD (valid UTF-8) passes. `dirAbs`: the folder; `relDir`: it in the tree.
 */
export function refuseUndecodable(dirAbs: string, relDir: string): void {
  let raw: Buffer[];
  try {
    raw = fs.readdirSync(dirAbs, { encoding: 'buffer' });
  } catch (err) {
    throw ioError(err, 'read directory', dirAbs);
  }
  for (const b of raw) if (!isUtf8(b)) throw undecodableName(dirAbs, relDir, b);
}

/** The refusal: which file (bytes escaped as bash's $'…' reads them), which folder, what to do. */
export function undecodableName(dirAbs: string, relDir: string, name: Buffer): CairnError {
  const shown = escapeBytes(name);
  const path = relDir ? `${relDir}/${shown}` : shown;
  return new CairnError(
    'INVALID_INPUT',
    `file name ${shown} in ${dirAbs} is not valid UTF-8: Cairn stores names as UTF-8, so it cannot be versioned`,
    {
      data: { path, folder: dirAbs, name: shown, bytes: name.toString('hex') },
      hint:
        `rename it to a UTF-8 name (mv $'${shown}' <new name>, run in that folder; convmv -f latin1 -t utf-8 ` +
        'renames many at once), or move it out of the tree: Cairn has no ignore list',
    },
  );
}

/**
 * A name's bytes as text: valid UTF-8 sequences as they are, printable ASCII as it is, every
 * other byte as \xNN, and backslash and quote escaped: what bash's $'…' turns back into the bytes.
 */
export function escapeBytes(b: Buffer): string {
  let out = '';
  for (let i = 0; i < b.length;) {
    const c = b[i]!;
    const len = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 1;
    if (len > 1 && i + len <= b.length && isUtf8(b.subarray(i, i + len))) {
      out += b.toString('utf8', i, i + len);
      i += len;
      continue;
    }
    if (c === 0x5c || c === 0x27) out += `\\${String.fromCharCode(c)}`;
    else if (c >= 0x20 && c < 0x7f) out += String.fromCharCode(c);
    else out += `\\x${c.toString(16).padStart(2, '0')}`;
    i++;
  }
  return out;
}

/**
 * `refuseUndecodable` for a path listed by another tool (git): each folder on the way to a
 * segment holding U+FFFD is listed again as bytes. Returns when every such segment is real.
 */
export function refuseUndecodablePath(root: string, rel: string): void {
  const segs = rel.split('/');
  segs.forEach((seg, i) => {
    if (!seg.includes('\uFFFD')) return;
    const relDir = segs.slice(0, i).join('/');
    refuseUndecodable(relDir ? `${root}/${relDir}` : root, relDir);
  });
}
