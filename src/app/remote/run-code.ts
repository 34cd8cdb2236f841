import { execFileSync } from 'node:child_process';
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { parseDocument } from 'yaml';
import { CairnError } from '../../core/errors.js';
import { refuseUndecodable, refuseUndecodablePath } from '../../storage/ingest/names.js';

const SKIP = new Set([
  '.git',
  '.cairn',
  'node_modules',
  '__pycache__',
  '.venv',
  'venv',
  '.mypy_cache',
  '.pytest_cache',
]);
const MAX_FILES = 20_000;
const MAX_BYTES = 64 * 1024 * 1024;

export interface RunSubmission {
  spec: string;
  specName: string;
  files: Record<string, string>;
}

/**
 * What a server needs to run a spec: its text and the files of its code folder (the spec's
 * `code:`, default its own folder). In a git project, the files git tracks or would track
 * (untracked but not ignored); elsewhere every file but caches, environments and .git/.cairn.
 */
export function collectRun(specPath: string): RunSubmission {
  const path = resolve(specPath);
  let spec: string;
  try {
    spec = readFileSync(path, 'utf8');
  } catch {
    throw new CairnError('NOT_FOUND', `cannot read the run spec ${path}`, {
      hint: 'pass a spec file, e.g. cairn run cairn.yaml',
    });
  }
  const code = parseDocument(spec).get('code');
  const codeDir = resolve(dirname(path), typeof code === 'string' ? code : '.');
  const names = gitFiles(codeDir) ?? walk(codeDir);
  // A name git listed that is not UTF-8 decodes to one that names no file: refused, not dropped.
  for (const rel of names) if (rel.includes('\uFFFD')) refuseUndecodablePath(codeDir, rel);
  if (names.length > MAX_FILES)
    throw new CairnError(
      'LIMIT_EXCEEDED',
      `${codeDir} holds ${names.length} files; a server takes at most ${MAX_FILES}`,
      {
        hint: 'point code: at the folder that holds the training code only',
      },
    );
  const files: Record<string, string> = {};
  let bytes = 0;
  for (const rel of names) {
    const data = readFileSync(join(codeDir, rel));
    bytes += data.length;
    if (bytes > MAX_BYTES)
      throw new CairnError('LIMIT_EXCEEDED', `the code in ${codeDir} is over ${MAX_BYTES} bytes`, {
        hint: 'keep data out of the code folder: add it as a dataset version and name it in inputs',
      });
    files[rel] = data.toString('base64');
  }
  return { spec, specName: basename(path), files };
}

function gitFiles(dir: string): string[] | null {
  try {
    const out = execFileSync('git', ['ls-files', '-co', '--exclude-standard', '-z'], {
      cwd: dir,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      maxBuffer: 64 * 1024 * 1024,
    });
    return out
      .split('\0')
      .filter((f) => f.length > 0 && !f.split('/').some((p) => SKIP.has(p)))
      .filter((f) => {
        // Not found under the name git's bytes decode to: not UTF-8 (refused by the caller).
        const st = lstatSync(join(dir, f), { throwIfNoEntry: false });
        return st ? st.isFile() : f.includes('\uFFFD');
      });
  } catch {
    return null;
  }
}

/** Regular files only: a symlink could point anywhere on this machine. */
function walk(root: string, dir = root, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (SKIP.has(e.name)) continue;
    if (e.name.includes('\uFFFD')) refuseUndecodable(dir, relative(root, dir).split(sep).join('/'));
    const full = join(dir, e.name);
    if (e.isDirectory()) walk(root, full, out);
    else if (e.isFile()) out.push(relative(root, full).split(sep).join('/'));
    if (out.length > MAX_FILES) break;
  }
  return out;
}
