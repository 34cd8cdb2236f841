// Counts for the redesign: upward/sideways imports between top-level folders of src/, files over
// 300 lines, functions over 80 lines, longest line. Usage: node arch-stats.mjs <repo> [layers.json] [-v]
// (The default map puts meta and storage on one layer, as the review that asked for the counts did;
// eslint/layers.js, which lint enforces, puts meta below storage.)
import ts from 'typescript';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, dirname, resolve } from 'node:path';
const repo = resolve(process.argv[2] ?? '.');
const layersArg = process.argv.slice(3).find((a) => !a.startsWith('-'));
const layers = layersArg
  ? JSON.parse(readFileSync(layersArg, 'utf8'))
  : {
      core: 0,
      meta: 1,
      storage: 1,
      audit: 2,
      datasets: 3,
      dataprep: 3,
      transfer: 3,
      compute: 3,
      models: 3,
      lineage: 3,
      maintenance: 3,
      'store-admin': 3,
      sdk: 3,
      demo: 3,
      app: 4,
      cli: 5,
      'test-support': 9,
    };
const files = [];
const walk = (d) => {
  for (const n of readdirSync(d)) {
    const p = join(d, n);
    if (statSync(p).isDirectory()) walk(p);
    else if (p.endsWith('.ts')) files.push(p);
  }
};
walk(join(repo, 'src'));
const isTest = (f) => /\.test\.ts$|\.case\.ts$|test-support/.test(f);
const isMigration = (f) => /meta\/migrations\//.test(f);
let upward = [],
  sideways = [],
  big = [],
  longFns = [],
  longest = { len: 0, where: '' },
  over140 = 0,
  over120 = 0;
for (const f of files) {
  if (isTest(f)) continue;
  const rel = relative(join(repo, 'src'), f);
  const top = rel.split('/')[0];
  const text = readFileSync(f, 'utf8');
  const lines = text.split('\n');
  if (lines.length > 300) big.push(`${rel} ${lines.length}`);
  lines.forEach((l, i) => {
    if (l.length > longest.len) longest = { len: l.length, where: `${rel}:${i + 1}` };
    if (l.length > 140) over140++;
    if (l.length > 120) over120++;
  });
  const sf = ts.createSourceFile(f, text, ts.ScriptTarget.Latest, true);
  const visit = (node) => {
    if (
      (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
      node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      const spec = node.moduleSpecifier.text;
      if (spec.startsWith('.')) {
        const target = relative(join(repo, 'src'), resolve(dirname(f), spec));
        const ttop = target.split('/')[0];
        if (ttop !== top && layers[ttop] !== undefined && layers[top] !== undefined) {
          if (layers[ttop] > layers[top]) upward.push(`${rel} -> ${target}`);
          else if (layers[ttop] === layers[top]) {
            const viaIndex = /\/index\.js$/.test(target) && target.split('/').length === 2;
            if (!viaIndex) sideways.push(`${rel} -> ${target}`);
          }
        }
      }
    }
    if (
      !isMigration(f) &&
      (ts.isFunctionDeclaration(node) ||
        ts.isMethodDeclaration(node) ||
        ts.isArrowFunction(node) ||
        ts.isFunctionExpression(node) ||
        ts.isConstructorDeclaration(node)) &&
      node.body
    ) {
      const a = sf.getLineAndCharacterOfPosition(node.getStart()).line,
        b = sf.getLineAndCharacterOfPosition(node.end).line;
      if (b - a + 1 > 80) longFns.push(`${rel}:${a + 1} ${b - a + 1} lines ${node.name?.getText?.() ?? '(anonymous)'}`);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
}
const out = {
  upward: upward.length,
  sideways: sideways.length,
  filesOver300: big.length,
  functionsOver80: longFns.length,
  longestLine: longest,
  linesOver120: over120,
  linesOver140: over140,
};
console.log(JSON.stringify(out, null, 1));
if (process.argv.includes('-v')) {
  console.log('UPWARD\n' + upward.join('\n'));
  console.log('SIDEWAYS\n' + sideways.join('\n'));
  console.log('BIG\n' + big.join('\n'));
  console.log('LONGFNS\n' + longFns.join('\n'));
}
