import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ioError } from '../core/errors.js';

const ENTRY = '.cairn/';
const SAME = new Set(['.cairn', '.cairn/', '/.cairn', '/.cairn/']);

/** `text` with `.cairn/` added as a line of its own, or null when a line already ignores it. */
export function withWorkspaceIgnored(text: string): string | null {
  if (text.split(/\r?\n/).some((l) => SAME.has(l.trim()))) return null;
  return `${text}${text === '' || text.endsWith('\n') ? '' : '\n'}${ENTRY}\n`;
}

/**
 * Keeps a new workspace out of git: inside a git work tree, `.cairn/` is added to the
 * `.gitignore` beside it (created, or appended to; never twice). The workspace changes with
 * every command, so left visible it would look like uncommitted code to git and to the run key.
 */
export function ignoreWorkspaceInGit(root: string): 'added' | 'present' | 'not-git' {
  const inside = spawnSync('git', ['-C', root, 'rev-parse', '--is-inside-work-tree'], { encoding: 'utf8' });
  if (inside.status !== 0 || inside.stdout.trim() !== 'true') return 'not-git';
  const path = join(root, '.gitignore');
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError(err, 'read', path);
  }
  const next = withWorkspaceIgnored(text);
  if (next === null) return 'present';
  try {
    writeFileSync(path, next);
  } catch (err) {
    throw ioError(err, 'write', path);
  }
  return 'added';
}
