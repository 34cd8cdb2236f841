import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { parseDocument } from 'yaml';
import { canonicalJson } from '../core/canonical-json.js';
import { CairnError } from '../core/errors.js';
import { applyOverrides, parseRunSpec } from '../compute/index.js';

/** The most files and bytes a submitted code folder may hold: code, not data (data goes in versions). */
export const MAX_CODE_FILES = 20_000;
export const MAX_CODE_BYTES = 64 * 1024 * 1024;

/**
 * Places a submitted run's spec and code in a folder named by their digest under `root`, so the
 * same code submitted twice (by anyone) is the same folder and the run cache hits. The spec's
 * `code:` is pointed at the placed code; every path is checked to stay inside the folder.
 */
export async function placeRunCode(
  root: string,
  specText: string,
  specName: string,
  files: Record<string, unknown>,
): Promise<string> {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*\.ya?ml$/.test(specName))
    throw new CairnError('USAGE', `the spec name ${JSON.stringify(specName)} is not a plain .yaml file name`);
  const entries = Object.entries(files);
  if (entries.length > MAX_CODE_FILES)
    throw new CairnError('LIMIT_EXCEEDED', `the code folder has ${entries.length} files; at most ${MAX_CODE_FILES}`);
  let bytes = 0;
  const decoded = entries.map(([rel, b64]) => {
    if (typeof b64 !== 'string') throw new CairnError('USAGE', `files[${JSON.stringify(rel)}] must be base64 text`);
    const parts = rel.split('/');
    if (
      isAbsolute(rel) ||
      rel.includes('\\') ||
      parts.some((p) => p === '' || p === '.' || p === '..' || p === '.cairn')
    )
      throw new CairnError('PATH_UNSAFE', `the code file name ${JSON.stringify(rel)} would leave its folder`);
    const data = Buffer.from(b64, 'base64');
    bytes += data.length;
    return [rel, data] as const;
  });
  if (bytes > MAX_CODE_BYTES)
    throw new CairnError('LIMIT_EXCEEDED', `the code folder holds ${bytes} bytes; at most ${MAX_CODE_BYTES}`, {
      hint: 'keep data out of the code folder: add it as a dataset version and name it in inputs',
    });
  const spec = placedSpec(specText, specName);
  const digest = createHash('sha256')
    .update(canonicalJson({ spec, specName, files: Object.fromEntries(decoded.map(([r, d]) => [r, sha(d)])) }))
    .digest('hex');
  const dir = join(root, digest);
  if (existsSync(dir)) return join(dir, 'spec', specName);
  const tmp = `${dir}.${process.pid}.${Date.now()}.tmp`;
  try {
    for (const [rel, data] of decoded) {
      const out = resolve(tmp, 'code', rel);
      if (!out.startsWith(resolve(tmp, 'code') + sep)) throw new CairnError('PATH_UNSAFE', `bad code path ${rel}`);
      await mkdir(dirname(out), { recursive: true });
      await writeFile(out, data, { flag: 'wx' });
    }
    await mkdir(join(tmp, 'code'), { recursive: true });
    await mkdir(join(tmp, 'spec'), { recursive: true });
    await writeFile(join(tmp, 'spec', specName), spec, { flag: 'wx' });
    await rename(tmp, dir).catch(async (err) => {
      // Someone placed the same code meanwhile: theirs is identical.
      if (!existsSync(dir)) throw err;
    });
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return join(dir, 'spec', specName);
}

/** The spec as the server runs it: its `code:` pointed at the placed code folder. */
export function placedSpec(specText: string, specName: string): string {
  const doc = parseDocument(specText);
  if (doc.errors.length) throw new CairnError('INVALID_INPUT', `${specName}: ${doc.errors[0]!.message}`);
  doc.set('code', '../code');
  return doc.toString();
}

/**
 * The project a submitted run will belong to, read as the runs service will read it (the placed
 * spec, then the --set overrides in order): the project its submitter must hold a role on.
 */
export function submittedProject(specText: string, specName: string, sets: readonly string[]): string {
  return applyOverrides(parseRunSpec(placedSpec(specText, specName), specName), sets).project;
}

function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}
