import type { OptionsOf } from '../table/define.js';
import type { login } from './commands.js';
import { login as logIn, loginWithOidc } from '../../app/remote/login.js';
import { commandContext } from '../context.js';
import { CairnError } from '../../core/errors.js';

export async function run(url: string, opts: OptionsOf<typeof login>): Promise<void> {
  const { out } = commandContext(opts);
  const key = opts.key ? { key: opts.key } : {};
  const r = opts.oidc
    ? await loginWithOidc(url, process.env, {
        ...key,
        onPrompt: (p) =>
          out.note(
            `To sign in, open ${p.verificationUriComplete ?? p.verificationUri} in a browser` +
              `${p.verificationUriComplete ? '' : ` and enter the code ${p.userCode}`} (code ${p.userCode}, valid ${Math.round(p.expiresInS / 60)} min)`,
          ),
      })
    : await logIn(url, await tokenFrom(opts.token, out), process.env, key);
  out.result(r);
  if (!sealed(r.url))
    out.note(
      `note: ${r.url} is plain http on a network: your token and every answer cross it unencrypted; put the server behind https`,
    );
  out.say(`logged in to ${r.url} as ${r.user}${r.via === 'oidc' ? ' (OpenID Connect)' : ''}`);
  out.say(
    `server audit key: ${r.verifierKey} (${r.pinned === 'first-use' ? 'trusted on first use: compare it with what your admin published' : r.pinned})`,
  );
  out.say(
    'commands run outside a Cairn workspace now act on this server (inside one, set CAIRN_SERVER to use the server)',
  );
}

/**
 * `--token -` reads the token from stdin (as `docker login --password-stdin`), so it never sits
 * on a command line, where every user of the machine can read it (`ps`, /proc/<pid>/cmdline).
 */
async function tokenFrom(flag: string | undefined, out: { note(s: string): void }): Promise<string | undefined> {
  if (flag === undefined) return process.env.CAIRN_TOKEN;
  if (flag !== '-') {
    out.note(
      'note: a token on the command line is visible to other users of this machine; prefer --token - or CAIRN_TOKEN',
    );
    return flag;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of process.stdin as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > 64 * 1024) throw new CairnError('USAGE', '--token - reads one token from stdin; this is far too long');
    chunks.push(c);
  }
  const token = Buffer.concat(chunks).toString('utf8').trim();
  if (!token || /\s/.test(token))
    throw new CairnError('USAGE', '--token - expects one token on stdin', {
      hint: 'echo "$TOKEN" | cairn login <url> --token -',
    });
  return token;
}

/** https, or http that never leaves this machine. */
function sealed(url: string): boolean {
  const u = new URL(url);
  return (
    u.protocol === 'https:' || ['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname) || u.hostname.startsWith('127.')
  );
}
