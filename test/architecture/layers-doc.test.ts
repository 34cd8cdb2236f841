// docs/ARCHITECTURE.md must describe the layers lint enforces (eslint/layers.js), folder by folder.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DOMAINS, LAYERS, layerViolation } from '../../eslint/layers.js';

const root = join(import.meta.dirname, '..', '..');
const doc = readFileSync(join(root, 'docs', 'ARCHITECTURE.md'), 'utf8');
const folders = readdirSync(join(root, 'src')).filter(
  (n) => statSync(join(root, 'src', n)).isDirectory() && n !== 'test-support',
);

/** Rows of the layer table: each names one or more folders and their layer. */
function documentedLayers(): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of doc.split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    if (cells.length < 4 || !/^\d+$/.test(cells[2] ?? '')) continue;
    for (const m of cells[1]!.matchAll(/`([a-z-]+)\/`/g)) out.set(m[1]!, Number(cells[2]));
  }
  return out;
}

describe('docs/ARCHITECTURE.md matches the layer rule', () => {
  it('names every folder of src/ with the layer lint gives it', () => {
    const documented = documentedLayers();
    expect(Object.keys(LAYERS).sort()).toEqual([...folders].sort());
    for (const f of folders)
      expect(documented.get(f), `layer of ${f}/ in the doc`).toBe(LAYERS[f as keyof typeof LAYERS]);
  });

  it('has a paragraph for every folder', () => {
    for (const f of folders) expect(doc, f).toContain(`**\`${f}/\`**`);
  });

  it('the rule rejects upward imports, domain internals and the CLI reaching past app/', () => {
    expect(layerViolation('storage/x.ts', 'audit/log/audit-log.ts')).toMatch(/upward/);
    expect(layerViolation('models/x.ts', 'datasets/add.ts')).toMatch(/datasets\/index\.ts/);
    expect(layerViolation('models/x.ts', 'datasets/index.ts')).toBeNull();
    expect(layerViolation('cli/data/add.ts', 'storage/pack/reader.ts')).toMatch(/CLI/);
    expect(layerViolation('cli/audit/log.ts', 'audit/index.ts')).toBeNull();
    expect(layerViolation('app/services.ts', 'audit/log/audit-log.ts')).toBeNull();
    for (const d of DOMAINS) expect(LAYERS[d as keyof typeof LAYERS], d).toBeGreaterThanOrEqual(4);
  });
});
