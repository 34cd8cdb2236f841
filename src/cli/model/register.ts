import type { OptionsOf } from '../table/define.js';
import type { modelRegister } from './commands.js';
import { registerModel } from '../../models/registry.js';
import { commandContext, withWorkspace } from '../context.js';

export async function run(name: string, opts: OptionsOf<typeof modelRegister>): Promise<void> {
  const ctx = commandContext(opts);
  const r = await withWorkspace(opts, 'model register', (ws) => registerModel(ws, { name, ...opts }));
  ctx.out.result(r);
  ctx.out.say(
    `registered ${r.ref} (${r.format}) ${r.digest}${r.card.training.run ? ` from run ${r.card.training.run.id}` : ''}; card: cairn model card ${r.ref}`,
  );
}
