#!/usr/bin/env node
// Bundles the compiled CLI (dist/) into dist/bundle/: one module graph instead of hundreds of
// files, which cuts start-up time — `cairn data status` has a 0.3 s budget in total.
import { build } from 'esbuild';

await build({
  entryPoints: {
    main: 'dist/cli/main.js',
    'storage-worker': 'dist/storage/workers/storage-worker.js',
    'stat-child': 'dist/storage/statcache/stat-child.js',
    'job-supervisor': 'dist/compute/backends/local/supervisor.js',
  },
  outdir: 'dist/bundle',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  chunkNames: 'chunk-[hash]',
  // Native addons and large SDKs stay in node_modules, loaded only by the commands that use them.
  external: [
    'better-sqlite3',
    'pg',
    'pg-native',
    '@duckdb/node-api',
    '@duckdb/node-bindings',
    'ssh2',
    'cpu-features',
    '@aws-sdk/*',
    '@smithy/*',
    'onnxruntime-node',
  ],
  banner: {
    js: "import { createRequire as __cairnRequire } from 'node:module'; const require = __cairnRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
