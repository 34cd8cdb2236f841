import type { AccountView, IdentityService, TokenView } from '../identity/index.js';
import { parseExpiry, parseRole } from '../identity/index.js';
import { ApiClient } from './remote/client.js';
import { currentSession } from './remote/credentials.js';
import { freshSession } from './remote/oidc-login.js';
import { openServer } from './server.js';
import { CairnError } from '../core/errors.js';

/** What `cairn server user|token|grant …` can do, on the host (--data-dir) or through the API as an admin. */
export type AccountAdmin = Pick<
  IdentityService,
  'addAccount' | 'accounts' | 'disable' | 'grant' | 'createToken' | 'revokeToken' | 'tokens'
>;

/**
 * With a data dir, acts on the server's own database as the host account (how the first admin is
 * made); otherwise asks the server the CLI is logged in to, which checks the admin role.
 */
export async function withAccountAdmin<T>(
  opts: { dataDir?: string; env?: NodeJS.ProcessEnv },
  fn: (admin: AccountAdmin) => Promise<T>,
): Promise<T> {
  const env = opts.env ?? process.env;
  if (opts.dataDir) {
    const rt = await openServer({ dataDir: opts.dataDir, env });
    try {
      return await fn(rt.identity);
    } finally {
      await rt.close();
    }
  }
  const s = currentSession(env);
  if (!s)
    throw new CairnError('USAGE', 'give --data-dir <server data dir> on the server host, or log in as an admin first', {
      hint: 'the first admin is made on the host: cairn server user add <you> --role admin --data-dir <dir>',
    });
  const live = await freshSession(env, s);
  return fn(remoteAdmin(new ApiClient({ url: live.url, token: live.token })));
}

function remoteAdmin(api: ApiClient): AccountAdmin {
  return {
    addAccount: (input) => api.call<AccountView>('accounts.add', { body: { ...input } }),
    accounts: () => api.call<AccountView[]>('accounts.list'),
    disable: async (name) => {
      await api.call('accounts.disable', { params: { name } });
    },
    grant: async (subject, project, role) => {
      await api.call('grants.set', { body: { subject, project, role: role ?? 'none' } });
    },
    createToken: (user, o = {}) =>
      api.call<TokenView & { token: string }>('tokens.create', {
        body: {
          user,
          expires:
            o.expiresInMs === null
              ? 'never'
              : `${Math.max(1, Math.round((o.expiresInMs ?? 90 * 86_400_000) / 60_000))}m`,
          ...(o.label ? { label: o.label } : {}),
        },
      }),
    revokeToken: async (id) => {
      await api.call('tokens.revoke', { params: { id } });
    },
    tokens: (user) => api.call<TokenView[]>('tokens.list', { query: { user } }),
  };
}

export { parseExpiry, parseRole };
