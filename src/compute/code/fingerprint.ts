import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

export interface CodeFingerprint {
  /** HEAD commit, or null outside a git repository. */
  commit: string | null;
  /** Digest of uncommitted changes (tracked diffs and untracked files), or null when clean. */
  dirty: string | null;
}

const SKIP = new Set(['.git', '.cairn', 'node_modules', '__pycache__', '.venv']);

/**
 * The code a run uses: the git commit plus a digest of whatever differs from it, so "same
 * commit, edited file" is a different run. Outside git, a digest of every file (names and
 * contents) stands in for both.
 */
export function codeFingerprint(dir: string): CodeFingerprint {
  const git = (args: string[]) => spawnSync('git', ['-C', dir, ...args], { encoding: 'buffer', maxBuffer: 1024 * 1024 * 1024 });
  const head = git(['rev-parse', 'HEAD']);
  if (head.status !== 0) return { commit: null, dirty: treeDigest(dir) };
  const commit = head.stdout.toString('utf8').trim();
  const status = git(['status', '--porcelain=v1', '-z', '--untracked-files=all', '--', '.']);
  if (status.stdout.length === 0) return { commit, dirty: null };
  const h = createHash('sha256');
  h.update(git(['diff', 'HEAD', '--binary', '--', '.']).stdout);
  const top = git(['rev-parse', '--show-toplevel']).stdout.toString('utf8').trim();
  for (const entry of status.stdout.toString('utf8').split('\0')) {
    if (!entry.startsWith('?? ')) continue;
    const rel = entry.slice(3);
    h.update(`\0untracked\0${rel}\0`);
    try {
      h.update(readFileSync(join(top, rel)));
    } catch {
      /* vanished meanwhile */
    }
  }
  return { commit, dirty: h.digest('hex') };
}

function treeDigest(dir: string): string {
  const h = createHash('sha256');
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      if (SKIP.has(name)) continue;
      const p = join(d, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isFile()) h.update(`${relative(dir, p)}\0${st.size}\0`).update(readFileSync(p));
    }
  };
  walk(dir);
  return h.digest('hex');
}
