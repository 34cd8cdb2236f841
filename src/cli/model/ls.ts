import type { OptionsOf } from '../table/define.js';
import type { modelLs } from './commands.js';
import { commandContext, withServices } from '../context.js';

export async function run(opts: OptionsOf<typeof modelLs>): Promise<void> {
  const ctx = commandContext(opts);
  const models = await withServices(opts, 'model ls', (s) => s.models.list());
  ctx.out.result({ models });
  if (!models.length) ctx.out.say('no models yet (cairn model register <name> --from-run <run>)');
  for (const m of models)
    ctx.out.say(
      `${m.name}  ${m.versions} version(s), latest ${m.latest}  ${Object.entries(m.aliases)
        .map(([a, v]) => `${a}=${v}`)
        .join(' ')}`,
    );
}
