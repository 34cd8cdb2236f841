import { CairnError } from '../../core/errors.js';
import { RESERVED_NAMES } from '../../core/paths.js';

/** As many links as Linux follows resolving one path before it gives up with ELOOP. */
const MAX_HOPS = 40;

type Resolution = { ok: true; parts: string[] } | { ok: false; why: string };

/**
 * Checks every symlink of a tree against the whole tree: each target is resolved the way the
 * kernel would resolve it in a checkout (component by component, following the tree's other
 * links on the way), and refused when it leaves the root or reaches a `.cairn` directory.
 * A lexical check per link is not enough: with `d/up -> ..`, the target `d/up/../..` of a link
 * at the root looks like it stays inside, but `d/up` is the root, so its parent is outside.
 * Pure; `links` holds every symlink of the tree with its full path.
 */
export function checkTreeLinks(links: ReadonlyArray<{ path: string; target: string }>): void {
  if (links.length === 0) return;
  const byPath = new Map(links.map((l) => [l.path, l.target]));
  const memo = new Map<string, Resolution>();
  for (const l of links) {
    const r = resolveLink(l.path, byPath, memo, 0);
    if (!r.ok) {
      throw new CairnError('PATH_UNSAFE', `symlink ${l.path} -> ${l.target} ${r.why}`, {
        data: { path: l.path, target: l.target },
        hint: 'replace the link with the file it points to, or remove it',
      });
    }
  }
}

/** Where the link at `path` leads, as segments from the root. */
function resolveLink(
  path: string,
  links: ReadonlyMap<string, string>,
  memo: Map<string, Resolution>,
  hops: number,
): Resolution {
  const known = memo.get(path);
  if (known) return known;
  if (hops > MAX_HOPS) return { ok: false, why: 'goes through too many links (a loop)' };
  const target = links.get(path)!;
  const r = resolvePath(path.split('/').slice(0, -1), target, links, memo, hops + 1);
  memo.set(path, r);
  return r;
}

function resolvePath(
  from: string[],
  target: string,
  links: ReadonlyMap<string, string>,
  memo: Map<string, Resolution>,
  hops: number,
): Resolution {
  if (target.length === 0 || target.startsWith('/') || target.includes('\0'))
    return { ok: false, why: 'points outside the dataset' };
  let parts = [...from];
  for (const seg of target.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (parts.length === 0) return { ok: false, why: 'points outside the dataset' };
      parts.pop();
      continue;
    }
    if (RESERVED_NAMES.has(seg)) return { ok: false, why: 'points into a .cairn directory' };
    parts.push(seg);
    const here = parts.join('/');
    if (links.has(here)) {
      // The kernel follows a link met on the way before it looks at the next segment.
      const sub = resolveLink(here, links, memo, hops);
      if (!sub.ok) return sub;
      parts = [...sub.parts];
    }
  }
  return { ok: true, parts };
}
