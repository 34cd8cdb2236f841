#!/usr/bin/env node
// Moves TypeScript modules and rewrites every relative import of them (src/, test/, bench/,
// examples/), and the relative imports inside the moved files, so history follows (git mv).
// Usage: node scripts/move-module.mjs <old.ts> <new.ts> [<old2.ts> <new2.ts> ...]
// A pair whose old file is already gone (moved by hand) only has its imports rewritten.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const root = process.cwd();
const args = process.argv.slice(2);
if (args.length === 0 || args.length % 2) {
  console.error('usage: node scripts/move-module.mjs <old.ts> <new.ts> [...]');
  process.exit(2);
}
const moves = new Map();
for (let i = 0; i < args.length; i += 2) moves.set(path.resolve(args[i]), path.resolve(args[i + 1]));
for (const [from, to] of moves) {
  if (existsSync(from) && !existsSync(to)) {
    mkdirSync(path.dirname(to), { recursive: true });
    execFileSync('git', ['mv', from, to]);
  }
}
const newOf = (abs) => moves.get(abs) ?? abs;
const oldOf = new Map([...moves].map(([a, b]) => [b, a]));
const files = [];
const walk = (d) => {
  for (const n of readdirSync(d)) {
    if (n === 'node_modules' || n === 'dist' || n.startsWith('.')) continue;
    const p = path.join(d, n);
    if (statSync(p).isDirectory()) walk(p);
    else if (/\.(ts|mts|mjs|js)$/.test(n)) files.push(p);
  }
};
for (const d of ['src', 'test', 'bench', 'examples', 'scripts'])
  if (existsSync(path.join(root, d))) walk(path.join(root, d));
let changed = 0;
for (const file of files) {
  const text = readFileSync(file, 'utf8');
  // Where this file lived before the move decides what its relative specifiers meant.
  const before = path.dirname(oldOf.get(file) ?? file);
  const after = path.dirname(file);
  const out = text.replace(/(from\s+|import\s*\(\s*|import\s+)(['"])(\.{1,2}\/[^'"]+)\2/g, (m, lead, q, spec) => {
    const ext = path.extname(spec);
    const target = path.resolve(before, spec);
    const asTs = ext === '.js' ? target.slice(0, -3) + '.ts' : target;
    const moved = newOf(asTs);
    const dest = ext === '.js' && moved.endsWith('.ts') ? moved.slice(0, -3) + '.js' : moved === asTs ? target : moved;
    let rel = path.relative(after, dest).split(path.sep).join('/');
    if (!rel.startsWith('.')) rel = `./${rel}`;
    return rel === spec ? m : `${lead}${q}${rel}${q}`;
  });
  if (out !== text) {
    writeFileSync(file, out);
    changed++;
  }
}
console.log(`moved ${moves.size} module(s); rewrote imports in ${changed} file(s)`);
