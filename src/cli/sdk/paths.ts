import type { OptionsOf } from '../table/define.js';
import type { sdkPaths } from './commands.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CairnError } from '../../core/errors.js';
import { packageRoot } from '../../core/package-root.js';
import { demoData } from '../../demo/index.js';
import { commandContext } from '../context.js';

/** Where the SDKs and the bundled public datasets are, for job code and example scripts. */
export async function run(name: string | undefined, opts: OptionsOf<typeof sdkPaths>): Promise<void> {
  const ctx = commandContext(opts);
  const root = packageRoot();
  const data = demoData();
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = {
    python: join(root, 'sdk', 'python'),
    node: join(root, 'dist', 'sdk', 'index.js'),
    typescript: existsSync(tsc) ? tsc : null,
    data: { spam: data.emails, flights: data.flights, penguins: data.penguins },
  };
  if (name !== undefined) {
    // One path alone, for scripts: `cairn data add "$(cairn sdk paths penguins)" …`.
    const one: Record<string, string | null> = { python: r.python, node: r.node, typescript: r.typescript, ...r.data };
    if (!(name in one) || one[name] === null)
      throw new CairnError('NOT_FOUND', `no SDK or bundled dataset named ${JSON.stringify(name)}`, {
        hint: `one of: ${Object.keys(one).join(', ')}`,
      });
    ctx.out.result({ name, path: one[name] });
    ctx.out.say(one[name]!);
    return;
  }
  ctx.out.result(r);
  ctx.out.say(
    `python  ${r.python}   (Cairn adds it to PYTHONPATH in every job: import cairn_helper)\nnode    ${r.node}   (CAIRN_SDK_JS in every job)\nspam    ${r.data.spam}\nflights ${r.data.flights}\npenguins ${r.data.penguins}`,
  );
}
