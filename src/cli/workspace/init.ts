import type { OptionsOf } from '../table/define.js';
import type { init } from './commands.js';
import { initAndDescribe } from '../../app/init.js';
import { commandContext } from '../context.js';

export async function run(dir: string | undefined, opts: OptionsOf<typeof init>): Promise<void> {
  const { out } = commandContext(opts);
  const result = await initAndDescribe(dir ?? '.', {
    ...(opts.metadataUrl ? { metadataUrl: opts.metadataUrl } : {}),
    onGitignoreError: (root, err) =>
      out.note(`cairn: could not add .cairn/ to ${root}/.gitignore (${err.message}); add it yourself`),
  });
  out.result(result);
  out.say(
    `Initialized Cairn workspace in ${result.workspace}/.cairn (metadata: ${result.metadata}, acting as ${result.actor})`,
  );
  out.say(`audit log key: ${result.verifierKey}`);
  if (result.gitignore === 'added') out.say(`added .cairn/ to ${result.workspace}/.gitignore`);
}
