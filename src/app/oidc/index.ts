import type { IdentityService } from '../../identity/index.js';
import { OidcBrowser, type SessionStore } from './browser.js';
import type { OidcSettings } from './settings.js';
import { OidcVerifier } from './verifier.js';

export { oidcSettings, DEFAULT_SCOPES, type OidcFlags, type OidcSettings } from './settings.js';
export { discover, OidcVerifier, type Discovery } from './verifier.js';
export {
  DEFAULT_SESSION_RECHECK_MS,
  OidcBrowser,
  memorySessions,
  sessionHash,
  type SessionRecord,
  type SessionStore,
} from './browser.js';

/** What a server tells clients before they have a credential: which provider to sign in with. */
export interface AuthConfig {
  oidc: { issuer: string; clientId: string; scopes: string } | null;
}

export interface Oidc {
  verifier: OidcVerifier;
  browser: OidcBrowser;
  config: AuthConfig;
}

export function createOidc(
  settings: OidcSettings,
  identity: Pick<IdentityService, 'principalFor'>,
  sessions?: SessionStore,
  /** How often a browser session's groups are asked for again (default 15 min). */
  sessionRecheckMs?: number,
): Oidc {
  const verifier = new OidcVerifier(settings, identity);
  return {
    verifier,
    browser: new OidcBrowser(verifier, undefined, undefined, sessions, sessionRecheckMs),
    config: { oidc: { issuer: settings.issuer, clientId: settings.clientId, scopes: settings.scopes } },
  };
}
