// A REAL OpenID provider for the tests: the `oidc-provider` package on a loopback port, with a
// public client allowing the device code grant and the authorization code grant with PKCE, and
// its development interactions (HTML forms) driven over HTTP by `browse` below.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWTPayload } from 'jose';
import Provider from 'oidc-provider';

export interface IdpAccount {
  preferred_username: string;
  email: string;
  groups: string[];
}

export interface TestIdp {
  issuer: string;
  clientId: string;
  /**
   * Creates the provider once the relying party's redirect URI is known: the public client
   * `clientId`, and optionally a confidential one (client_secret_basic, code flow only).
   */
  configure(
    redirectUris: string[],
    confidential?: { clientId: string; secret: string; redirectUris: string[] },
    /** `refreshAlways`: a refresh token for every code the public client redeems (as Keycloak does), not only with offline_access consented. */
    opts?: { refreshAlways?: boolean },
  ): void;
  /**
   * Listens to the provider's events (`refresh_token.saved` with the token, whose `jti` is its
   * value; `grant.error` with the refused request and the error), before or after `configure`.
   */
  on(event: string, listener: (...args: never[]) => void): void;
  /** A token signed with the provider's own published key (to make expired or misaddressed ones). */
  mint(claims: JWTPayload, opts?: { key?: CryptoKey; expiresIn?: number }): Promise<string>;
  close(): Promise<void>;
}

export async function startIdp(accounts: Record<string, IdpAccount>): Promise<TestIdp> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: 'idp-key-1', alg: 'RS256', use: 'sig' };
  let handler: ((req: never, res: never) => void) | null = null;
  let provider: Provider | null = null;
  const listeners: Array<[string, (...args: never[]) => void]> = [];
  const server: Server = createServer((req, res) => {
    if (handler) return handler(req as never, res as never);
    res.statusCode = 503;
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const clientId = 'cairn-test';
  return {
    issuer,
    clientId,
    configure(redirectUris, confidential, opts = {}) {
      provider = new Provider(issuer, {
        ...(opts.refreshAlways
          ? {
              issueRefreshToken: async (_ctx: unknown, client: { grantTypeAllowed(t: string): boolean }) =>
                client.grantTypeAllowed('refresh_token'),
            }
          : {}),
        clients: [
          {
            client_id: clientId,
            token_endpoint_auth_method: 'none',
            grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
            response_types: ['code'],
            redirect_uris: redirectUris,
          },
          ...(confidential
            ? [
                {
                  client_id: confidential.clientId,
                  client_secret: confidential.secret,
                  token_endpoint_auth_method: 'client_secret_basic',
                  grant_types: ['authorization_code'],
                  response_types: ['code'],
                  redirect_uris: confidential.redirectUris,
                },
              ]
            : []),
        ],
        jwks: { keys: [jwk] },
        features: { devInteractions: { enabled: true }, deviceFlow: { enabled: true } },
        claims: { openid: ['sub'], profile: ['preferred_username'], email: ['email'], groups: ['groups'] },
        scopes: ['openid', 'offline_access', 'profile', 'email', 'groups'],
        // Claims of the scopes granted go into the ID token (as Keycloak's or Okta's groups mappers do).
        conformIdTokenClaims: false,
        cookies: { keys: ['cairn-test-cookie-key'] },
        ttl: {
          AccessToken: 600,
          IdToken: 600,
          RefreshToken: 3600,
          Session: 3600,
          Interaction: 600,
          Grant: 3600,
          DeviceCode: 600,
        },
        findAccount: async (_ctx: unknown, sub: string) =>
          accounts[sub] ? { accountId: sub, claims: async () => ({ sub, ...accounts[sub] }) } : undefined,
      });
      for (const [event, fn] of listeners) provider.on(event, fn);
      handler = provider.callback();
    },
    on(event, fn) {
      listeners.push([event, fn]);
      provider?.on(event, fn);
    },
    async mint(claims, opts = {}) {
      return new SignJWT(claims)
        .setProtectedHeader({ alg: 'RS256', kid: jwk.kid })
        .setIssuedAt()
        .setExpirationTime(Math.floor(Date.now() / 1000) + (opts.expiresIn ?? 600))
        .sign(opts.key ?? privateKey);
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/**
 * A minimal browser: follows redirects, keeps cookies per origin, and submits the first form of
 * each HTML page (filling `login`/`password` for the provider's sign-in form) until a page has no
 * form. Returns the last URL and response.
 */
export async function browse(
  start: string,
  login: string,
  jar: Map<string, Map<string, string>> = new Map(),
): Promise<{ url: string; status: number; body: string; headers: Headers; setCookies: string[] }> {
  let url = start;
  let method = 'GET';
  let body: URLSearchParams | undefined;
  const setCookies: string[] = [];
  for (let step = 0; step < 30; step++) {
    const origin = new URL(url).origin;
    const cookies = jar.get(origin) ?? new Map<string, string>();
    jar.set(origin, cookies);
    const res = await fetch(url, {
      method,
      redirect: 'manual',
      headers: {
        ...(cookies.size ? { cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join('; ') } : {}),
        ...(body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
      },
      ...(body ? { body } : {}),
    });
    for (const c of res.headers.getSetCookie()) {
      setCookies.push(c);
      const [pair] = c.split(';');
      const i = pair!.indexOf('=');
      const [name, value] = [pair!.slice(0, i).trim(), pair!.slice(i + 1).trim()];
      if (!value || /max-age=0|expires=thu, 01 jan 1970/i.test(c)) cookies.delete(name);
      else cookies.set(name, value);
    }
    if (res.status >= 300 && res.status < 400) {
      url = new URL(res.headers.get('location')!, url).toString();
      [method, body] = ['GET', undefined];
      continue;
    }
    const text = await res.text();
    const form = /<form\b([^>]*)>([\s\S]*?)<\/form>/i.exec(text);
    if (!form) return { url, status: res.status, body: text, headers: res.headers, setCookies };
    const action = /action="([^"]*)"/i.exec(form[1]!)?.[1] ?? url;
    body = new URLSearchParams();
    for (const input of form[2]!.match(/<input\b[^>]*>/gi) ?? []) {
      const name = /name="([^"]*)"/i.exec(input)?.[1];
      if (!name) continue;
      const value = /value="([^"]*)"/i.exec(input)?.[1] ?? '';
      body.set(name, name === 'login' ? login : name === 'password' ? 'any' : value.replace(/&amp;/g, '&'));
    }
    url = new URL(action.replace(/&amp;/g, '&'), url).toString();
    method = 'POST';
  }
  throw new Error(`the browser went round in circles from ${start}`);
}
