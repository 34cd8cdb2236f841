import { spawn } from 'node:child_process';
import type { OptionsOf } from '../table/define.js';
import type { ui } from './commands.js';
import { startLocalUi } from '../../server/start.js';
import { CairnError } from '../../core/errors.js';
import { commandContext, workspaceEnv } from '../context.js';

export async function run(opts: OptionsOf<typeof ui>): Promise<void> {
  const { out } = commandContext(opts);
  const port = Number(opts.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new CairnError('USAGE', `--port takes a port number (0 to 65535), not ${opts.port}`);
  const server = await startLocalUi({ port, env: workspaceEnv(opts) });
  out.result({ url: server.url, workspace: server.workspace, actor: server.actor });
  out.say(`Cairn UI on ${server.url} (workspace ${server.workspace}, as ${server.actor}); Ctrl-C stops it`);
  if (opts.open) openBrowser(server.url);
  await new Promise<void>((resolve) => {
    const stop = () => server.close().then(resolve, resolve);
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

/** The desktop's own opener; a machine without one (a login node) just prints the URL above. */
function openBrowser(url: string) {
  const cmd = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open';
  const child = spawn(cmd, [url], { stdio: 'ignore', detached: true });
  child.on('error', () => undefined);
  child.unref();
}
