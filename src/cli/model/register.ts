import type { OptionsOf } from '../table/define.js';
import type { modelRegister } from './commands.js';
import { commandContext, withServices } from '../context.js';

export async function run(name: string, opts: OptionsOf<typeof modelRegister>): Promise<void> {
  const ctx = commandContext(opts);
  const r = await withServices(opts, 'model register', (s) => s.models.register({ name, ...opts }));
  ctx.out.result(r);
  ctx.out.say(
    `registered ${r.ref} (${r.format}) ${r.digest}${r.card.training.run ? ` from run ${r.card.training.run.id}` : ''}; card: cairn model card ${r.ref}`,
  );
}
