import type { OptionsOf } from '../table/define.js';
import type { login } from './commands.js';
import { login as logIn, loginWithOidc } from '../../app/remote/login.js';
import { commandContext } from '../context.js';

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
    : await logIn(url, opts.token ?? process.env.CAIRN_TOKEN, process.env, key);
  out.result(r);
  out.say(`logged in to ${r.url} as ${r.user}${r.via === 'oidc' ? ' (OpenID Connect)' : ''}`);
  out.say(
    `server audit key: ${r.verifierKey} (${r.pinned === 'first-use' ? 'trusted on first use: compare it with what your admin published' : r.pinned})`,
  );
  out.say(
    'commands run outside a Cairn workspace now act on this server (inside one, set CAIRN_SERVER to use the server)',
  );
}
