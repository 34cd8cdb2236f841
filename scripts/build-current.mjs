// Whether dist/ is up to date with what it is built from, told by modification times alone (no
// hashing: the check must cost next to nothing). scripts/checks.mjs skips the build when it is:
// CI's `npm ci` has just built dist/ (`prepare`), and building again cost ~40 CPU-s of the two
// cores the suite needs.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** The last file each build step writes: tsc, then bundle.mjs, then bundle-ui.mjs (index.html last). */
export const BUILD_OUTPUTS = ['dist/cli/main.js', 'dist/bundle/main.js', 'dist/ui/index.html'];

/** What the build reads; test files are left out (tsconfig.build.json does not compile them). */
export const BUILD_INPUTS = [
  'src',
  'ui',
  'scripts/bundle.mjs',
  'scripts/bundle-ui.mjs',
  'tsconfig.json',
  'tsconfig.build.json',
  'package.json',
  'package-lock.json',
  // npm rewrites it on every install, so a changed dependency (which esbuild bundles) rebuilds.
  'node_modules/.package-lock.json',
];

/** Newest mtime (ms) of a file, or of a folder and everything under it; 0 when absent. */
function newest(path) {
  let st;
  try {
    st = statSync(path);
  } catch {
    return 0;
  }
  if (!st.isDirectory()) return st.mtimeMs;
  // A deleted or renamed file shows only in its folder's mtime.
  let max = st.mtimeMs;
  for (const e of readdirSync(path, { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name.endsWith('.test.ts')) continue;
    max = Math.max(max, newest(join(path, e.name)));
  }
  return max;
}

/**
 * True when every build step's last output exists and is newer than every input. A step that
 * failed left its output older than the input that made it fail, so the next run builds again.
 */
export function buildIsCurrent(root = process.cwd()) {
  const outputs = BUILD_OUTPUTS.map((f) => newest(join(root, f)));
  if (outputs.includes(0)) return false;
  return Math.max(...BUILD_INPUTS.map((f) => newest(join(root, f)))) < Math.min(...outputs);
}
