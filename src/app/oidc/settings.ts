import { readFileSync } from 'node:fs';
import { CairnError } from '../../core/errors.js';

/** How the team server trusts an OpenID provider (docs/SERVER.md, "Sign-in with OpenID Connect"). */
export interface OidcSettings {
  /** The issuer URL exactly as the provider's tokens carry it in `iss`. */
  issuer: string;
  clientId: string;
  /** The `aud` a bearer token must carry: the client id unless the provider issues access tokens for an API. */
  audience: string;
  /** For the browser's code exchange when the provider's client is confidential; never sent to a browser or a CLI. */
  clientSecret?: string;
  /** The claim holding the person's groups (a list of names; a single string is taken as one group). */
  groupsClaim: string;
  /** The claim naming the Cairn account: preferred_username (default), email or sub. */
  usernameClaim: string;
  /** Scopes asked for in both flows. */
  scopes: string;
}

export interface OidcFlags {
  issuer?: string;
  clientId?: string;
  clientSecretFile?: string;
  audience?: string;
  groupsClaim?: string;
  usernameClaim?: string;
  scopes?: string;
}

/**
 * The OpenID settings of `cairn server start`, or null when none was given. The client secret is
 * read from a file (or CAIRN_OIDC_CLIENT_SECRET), never from the command line, where any user of
 * the host could read it in the process list.
 */
export function oidcSettings(flags: OidcFlags, env: NodeJS.ProcessEnv = process.env): OidcSettings | null {
  if (!flags.issuer && !flags.clientId) return null;
  if (!flags.issuer || !flags.clientId)
    throw new CairnError('USAGE', 'OpenID Connect needs both --oidc-issuer <url> and --oidc-client-id <id>');
  let u: URL;
  try {
    u = new URL(flags.issuer);
  } catch {
    throw new CairnError('USAGE', `--oidc-issuer takes a URL, not ${JSON.stringify(flags.issuer)}`);
  }
  if (u.protocol !== 'https:' && !['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname))
    throw new CairnError('USAGE', `the OpenID issuer must be https:// (plain http only on loopback): ${flags.issuer}`);
  const secret = flags.clientSecretFile ? readSecret(flags.clientSecretFile) : env.CAIRN_OIDC_CLIENT_SECRET?.trim();
  const usernameClaim = flags.usernameClaim ?? 'preferred_username';
  return {
    issuer: flags.issuer,
    clientId: flags.clientId,
    audience: flags.audience ?? flags.clientId,
    ...(secret ? { clientSecret: secret } : {}),
    groupsClaim: flags.groupsClaim ?? 'groups',
    usernameClaim,
    scopes: flags.scopes ?? DEFAULT_SCOPES,
  };
}

/** `groups` is the scope most providers (Okta, oidc-provider, Authentik) tie the groups claim to. */
export const DEFAULT_SCOPES = 'openid profile email offline_access groups';

function readSecret(file: string): string {
  let s: string;
  try {
    s = readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new CairnError(
      'CONFIG_INVALID',
      `cannot read the OpenID client secret file ${file}: ${(err as Error).message}`,
    );
  }
  if (!s) throw new CairnError('CONFIG_INVALID', `the OpenID client secret file ${file} is empty`);
  return s;
}
