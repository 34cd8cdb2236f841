import { createRemoteJWKSet, customFetch, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { CairnError } from '../../core/errors.js';
import type { Authenticated, IdentityService } from '../../identity/index.js';
import type { OidcSettings } from './settings.js';
import { fetchBounded, PROVIDER_BOUNDS, providerUnavailable, type FetchBounds } from './bounded-fetch.js';

/** The parts of a provider's discovery document Cairn uses. */
export interface Discovery {
  issuer: string;
  jwks_uri: string;
  authorization_endpoint: string;
  token_endpoint: string;
  device_authorization_endpoint?: string;
}

const ACCOUNT_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]*$/;

/** Fetches `<issuer>/.well-known/openid-configuration`; its issuer must be the one configured, byte for byte. */
export async function discover(
  issuer: string,
  fetchImpl: typeof fetch = fetch,
  bounds: FetchBounds = PROVIDER_BOUNDS,
): Promise<Discovery> {
  const url = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
  let doc: Partial<Discovery>;
  try {
    const res = await fetchBounded(url, { headers: { accept: 'application/json' } }, bounds, fetchImpl);
    if (!res.ok) throw new Error(`answered ${res.status}`);
    doc = (await res.json()) as Partial<Discovery>;
  } catch (err) {
    throw providerUnavailable('discovery document', url, err);
  }
  if (doc.issuer !== issuer)
    throw new CairnError(
      'CONFIG_INVALID',
      `the discovery document at ${url} names the issuer ${doc.issuer}, not ${issuer}`,
      {
        hint: 'give --oidc-issuer exactly as the provider spells it (a trailing slash counts)',
      },
    );
  for (const k of ['jwks_uri', 'authorization_endpoint', 'token_endpoint'] as const)
    if (typeof doc[k] !== 'string')
      throw new CairnError('CONFIG_INVALID', `the discovery document at ${url} has no ${k}`);
  return doc as Discovery;
}

/**
 * Checks OpenID tokens presented to the server: signature against the provider's published keys
 * (JWKS, refetched when an unknown key id appears), `iss`, `aud`, `exp`/`nbf`; then maps the
 * token to an account and its groups. The provider is asked lazily, so a server starts while its
 * provider is down and recovers when it is back.
 */
export class OidcVerifier {
  #discovery: Promise<Discovery> | null = null;
  #jwks: ReturnType<typeof createRemoteJWKSet> | null = null;

  constructor(
    readonly settings: OidcSettings,
    private readonly identity: Pick<IdentityService, 'principalFor'>,
    /** Size and time limits of every answer read from the provider. */
    readonly bounds: FetchBounds = PROVIDER_BOUNDS,
  ) {}

  discovery(): Promise<Discovery> {
    this.#discovery ??= discover(this.settings.issuer, fetch, this.bounds).catch((err: unknown) => {
      this.#discovery = null;
      throw err;
    });
    return this.#discovery;
  }

  /** A bearer token that is a JWT is checked here (UNAUTHENTICATED when it fails); anything else is not an OpenID token (null). */
  async verifyBearer(token: string): Promise<Authenticated | null> {
    if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token)) return null;
    return this.identityOf(await this.verifyToken(token));
  }

  /** The verified claims of an OpenID token, with `nonce` checked when one is expected (the browser flow). */
  async verifyToken(token: string, nonce?: string): Promise<JWTPayload> {
    const d = await this.discovery();
    // jose limits the time but not the size of the key set it reads: the bounded fetch does both.
    this.#jwks ??= createRemoteJWKSet(new URL(d.jwks_uri), {
      timeoutDuration: this.bounds.timeoutMs,
      [customFetch]: (url, init) => fetchBounded(url, init, this.bounds),
    });
    try {
      const { payload } = await jwtVerify(token, this.#jwks, {
        issuer: this.settings.issuer,
        audience: this.settings.audience,
        requiredClaims: ['exp', 'sub'],
        clockTolerance: 30,
      });
      if (nonce !== undefined && payload.nonce !== nonce)
        throw new CairnError('UNAUTHENTICATED', 'the ID token answers another sign-in (nonce)');
      return payload;
    } catch (err) {
      // The provider's keys could not be fetched: the token may be fine, the provider is away.
      if (err instanceof joseErrors.JWKSTimeout || !(err instanceof joseErrors.JOSEError || err instanceof CairnError))
        throw providerUnavailable('keys', d.jwks_uri, err);
      throw new CairnError('UNAUTHENTICATED', `the OpenID token is not accepted: ${reasonOf(err)}`, {
        hint: 'sign in again (cairn login <url> --oidc)',
      });
    }
  }

  /**
   * The account a verified token names: the `usernameClaim` (default preferred_username), the
   * groups in `groupsClaim`, and the subject as the credential the audit log records.
   */
  async identityOf(claims: JWTPayload): Promise<Authenticated> {
    const { usernameClaim, groupsClaim } = this.settings;
    const name = claims[usernameClaim];
    if (typeof name !== 'string' || !ACCOUNT_NAME.test(name) || name.length > 128)
      throw new CairnError(
        'UNAUTHENTICATED',
        `the OpenID token has no usable ${usernameClaim} claim to name an account`,
        {
          hint: 'the server admin chooses the claim with --oidc-username-claim (preferred_username, email or sub)',
        },
      );
    const raw = claims[groupsClaim];
    const list = Array.isArray(raw) ? raw : typeof raw === 'string' ? [raw] : [];
    const groups = list.filter((g): g is string => typeof g === 'string' && ACCOUNT_NAME.test(g) && g.length <= 128);
    const principal = await this.identity.principalFor(name, groups);
    if (!principal)
      throw new CairnError('UNAUTHENTICATED', `account ${name} is disabled`, { data: { subject: claims.sub } });
    return { principal, actor: { id: name, auth: 'oidc', credential: String(claims.sub) } };
  }
}

function reasonOf(err: unknown): string {
  if (err instanceof CairnError) return err.message;
  if (err instanceof joseErrors.JWTExpired) return 'it expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) return `its ${err.claim} claim is wrong (${err.reason})`;
  if (err instanceof joseErrors.JWKSNoMatchingKey) return 'it is signed by a key the provider does not publish';
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'its signature does not verify';
  if (err instanceof joseErrors.JOSEError) return `${err.code}: ${err.message}`;
  return msg(err);
}

function msg(err: unknown): string {
  const c = (err as { cause?: { code?: string } }).cause;
  return c?.code ?? (err as Error).message ?? String(err);
}
