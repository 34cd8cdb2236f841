import type { OptionsOf } from '../table/define.js';
import type { dag } from './commands.js';
import { CairnError } from '../../core/errors.js';
import { commandContext, withServices } from '../context.js';

export async function run(opts: OptionsOf<typeof dag>): Promise<void> {
  const ctx = commandContext(opts);
  if (opts.mermaid && opts.dot) throw new CairnError('USAGE', 'choose one of --mermaid and --dot');
  const format = opts.mermaid ? 'mermaid' : opts.dot ? 'dot' : 'text';
  const d = await withServices(opts, 'dag', (s) => s.runs.dag(opts.file, format));
  ctx.out.result(d);
  ctx.out.say(d.drawing);
}
