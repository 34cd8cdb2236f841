import type { OptionsOf } from '../table/define.js';
import type { init } from './commands.js';
import { initAndDescribe } from '../../app/init.js';
import { commandContext } from '../context.js';
import { CairnError } from '../../core/errors.js';

export async function run(dir: string | undefined, opts: OptionsOf<typeof init>): Promise<void> {
  const { out } = commandContext(opts);
  if (opts.remote && !opts.server)
    throw new CairnError('USAGE', '--remote names the remote for --server; give --server <url> too');
  const result = await initAndDescribe(dir ?? '.', {
    ...(opts.metadataUrl ? { metadataUrl: opts.metadataUrl } : {}),
    ...(opts.server ? { server: { url: opts.server, ...(opts.remote ? { remote: opts.remote } : {}) } } : {}),
    onGitignoreError: (root, err) =>
      out.note(`cairn: could not add .cairn/ to ${root}/.gitignore (${err.message}); add it yourself`),
  });
  out.result(result);
  out.say(
    `Initialized Cairn workspace in ${result.workspace}/.cairn (metadata: ${result.metadata}, acting as ${result.actor})`,
  );
  out.say(`audit log key: ${result.verifierKey}`);
  if (result.gitignore === 'added') out.say(`added .cairn/ to ${result.workspace}/.gitignore`);
  if (result.server) {
    out.say(
      `linked to ${result.server.url} as remote '${result.server.remote}' (the default): cairn push / cairn pull`,
    );
    out.say(
      result.server.signedInAs
        ? `signed in there as ${result.server.signedInAs}`
        : `not signed in there yet: cairn login ${result.server.url}`,
    );
  }
}
