import type { OptionsOf } from '../table/define.js';
import type { modelLs } from './commands.js';
import { listModels } from '../../models/registry.js';
import { commandContext, withWorkspace } from '../context.js';

export async function run(opts: OptionsOf<typeof modelLs>): Promise<void> {
  const ctx = commandContext(opts);
  const models = await withWorkspace(opts, 'model ls', (ws) => listModels(ws));
  ctx.out.result({ models });
  if (!models.length) ctx.out.say('no models yet (cairn model register <name> --from-run <run>)');
  for (const m of models)
    ctx.out.say(
      `${m.name}  ${m.versions} version(s), latest ${m.latest}  ${Object.entries(m.aliases)
        .map(([a, v]) => `${a}=${v}`)
        .join(' ')}`,
    );
}
