// Lint rule for the layers of docs/ARCHITECTURE.md: imports between top-level folders of src/ only
// point down, and a domain folder is entered only through its index.ts (its service interface and
// view types). There are no exceptions.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const SRC = path.resolve(here, '..', 'src');

/** Rank of each top-level folder: an import may only go to a folder of lower or equal rank. */
export const LAYERS = {
  core: 0,
  meta: 1,
  storage: 2,
  audit: 3,
  datasets: 4,
  dataprep: 5,
  transfer: 5,
  compute: 5,
  models: 5,
  lineage: 5,
  'store-admin': 5,
  sdk: 5,
  identity: 5,
  demo: 6,
  compliance: 6,
  app: 7,
  cli: 8,
  server: 8,
};

/** Folders whose insides are private: other folders import them only through their index.ts. */
export const DOMAINS = new Set([
  'datasets',
  'dataprep',
  'transfer',
  'compute',
  'models',
  'lineage',
  'store-admin',
  'sdk',
  'identity',
  'demo',
  'compliance',
]);

/** What the shell may reach besides domains' index.ts: the composition root and pure core. */
const CLI_MAY_IMPORT = new Set(['cli', 'server', 'app', 'core']);

/** The reason an import from `fromRel` to `toRel` (paths under src/) breaks the layers, or null. */
export function layerViolation(fromRel, toRel) {
  const from = fromRel.split('/')[0];
  const to = toRel.split('/')[0];
  if (from === to || !(from in LAYERS) || !(to in LAYERS)) return null;
  if (LAYERS[to] > LAYERS[from])
    return `upward import: ${from}/ (layer ${LAYERS[from]}) may not import ${to}/ (layer ${LAYERS[to]})`;
  if (DOMAINS.has(to) && toRel !== `${to}/index.ts`)
    return `${to}/ is a domain: import it through ${to}/index.ts (its service interface and view types)`;
  // audit/index.ts is the audit service the shell talks to; the rest of audit/ is infrastructure.
  const shell = from === 'cli' || from === 'server';
  if (shell && toRel === 'audit/index.ts') return null;
  if (shell && !CLI_MAY_IMPORT.has(to) && !DOMAINS.has(to))
    return `the ${from === 'cli' ? 'CLI' : 'server'} talks to services built by app/, not to ${to}/ directly`;
  return null;
}

export const layersPlugin = {
  rules: {
    imports: {
      meta: { type: 'problem', schema: [], docs: { description: 'imports follow the layers of docs/ARCHITECTURE.md' } },
      create(context) {
        const file = context.filename;
        const fromRel = path.relative(SRC, file).split(path.sep).join('/');
        if (fromRel.startsWith('..') || /\.test\.ts$/.test(fromRel) || fromRel.startsWith('test-support/')) return {};
        const check = (node) => {
          const spec = node.source?.value;
          if (typeof spec !== 'string' || !spec.startsWith('.')) return;
          const toRel = path
            .relative(SRC, path.resolve(path.dirname(file), spec))
            .split(path.sep)
            .join('/')
            .replace(/\.js$/, '.ts');
          const why = layerViolation(fromRel, toRel);
          if (why) context.report({ node: node.source, message: why });
        };
        return {
          ImportDeclaration: check,
          ExportNamedDeclaration: check,
          ExportAllDeclaration: check,
          ImportExpression: check,
        };
      },
    },
  },
};
