import type { OptionsOf } from '../table/define.js';
import type { modelVersions } from './commands.js';
import { commandContext, withServices } from '../context.js';

export async function run(name: string, opts: OptionsOf<typeof modelVersions>): Promise<void> {
  const ctx = commandContext(opts);
  const versions = await withServices(opts, 'model versions', (s) => s.models.versions(name));
  ctx.out.result({ versions });
  for (const v of versions)
    ctx.out.say(
      `${v.ref}  ${v.digest.slice(0, 19)}…  ${v.format}  ${v.created}  ${v.by}${v.aliases.length ? `  [${v.aliases.join(', ')}]` : ''}`,
    );
}
