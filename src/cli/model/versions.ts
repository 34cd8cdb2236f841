import type { OptionsOf } from '../table/define.js';
import type { modelVersions as modelVersionsCommand } from './commands.js';
import { modelVersions } from '../../models/registry.js';
import { commandContext, withWorkspace } from '../context.js';

export async function run(name: string, opts: OptionsOf<typeof modelVersionsCommand>): Promise<void> {
  const ctx = commandContext(opts);
  const versions = await withWorkspace(opts, 'model versions', (ws) => modelVersions(ws, name));
  ctx.out.result({ versions });
  for (const v of versions)
    ctx.out.say(
      `${v.ref}  ${v.digest.slice(0, 19)}…  ${v.format}  ${v.created}  ${v.by}${v.aliases.length ? `  [${v.aliases.join(', ')}]` : ''}`,
    );
}
