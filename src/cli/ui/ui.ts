import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
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
  out.result({
    url: server.url,
    link: server.link,
    token: server.token,
    workspace: server.workspace,
    actor: server.actor,
  });
  out.say(`Cairn UI on ${server.link}`);
  out.say(`  (workspace ${server.workspace}, as ${server.actor}; only this link gets in; Ctrl-C stops it)`);
  const opened = opts.open ? openBrowser(server.link) : null;
  await new Promise<void>((resolve) => {
    const stop = () => {
      if (opened) rmSync(opened, { recursive: true, force: true });
      return server.close().then(resolve, resolve);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

/**
 * The desktop's own opener; a machine without one (a login node) just prints the link above. The
 * opener is handed an owner-only page that forwards to the link, not the link itself: a command
 * line is readable by every user of the machine (`ps`), and the link carries the secret.
 */
function openBrowser(link: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-ui-'));
  const page = join(dir, 'open.html');
  writeFileSync(
    page,
    `<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="0;url=${link}"><a href="${link}">Cairn UI</a>\n`,
    { mode: 0o600 },
  );
  const cmd = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open';
  const child = spawn(cmd, [pathToFileURL(page).href], { stdio: 'ignore', detached: true });
  child.on('error', () => undefined);
  child.unref();
  return dir;
}
