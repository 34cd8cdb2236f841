#!/usr/bin/env node
// The CLI is compiled to dist/ (and bundled to dist/bundle/) by `npm install` or `npm run build`.
import { existsSync } from 'node:fs';

const bundled = new URL('../dist/bundle/main.js', import.meta.url);
const entry = existsSync(bundled) ? bundled : new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('cairn: not built yet; run `npm install` or `npm run build` in the cairn package\n');
  process.exit(2);
}
const { main } = await import(entry.href);
await main(process.argv);
