// The workspace commands' declarations: arguments and options, once (see ../table/define.ts).
import { spec, text } from '../table/define.js';

export const init = spec({
  path: 'init',
  args: ['dir?'],
  description: 'create a workspace (.cairn/) in dir (default: the current directory)',
  options: {
    metadataUrl: text(
      '--metadata-url <url>',
      'metadata database: sqlite:<file> (default) or postgres://user@host:port/db?schema=name',
    ),
    server: text('--server <url>', 'link to a team server: add it as the default remote (push and pull go there)'),
    remote: text('--remote <name>', 'the remote name for --server (default: team)'),
  },
});
