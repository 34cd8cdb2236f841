import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discover, OidcVerifier } from './verifier.js';
import type { OidcSettings } from './settings.js';
import { startLoopback } from '../../test-support/loopback.js';

/**
 * A loopback "provider" whose answers never end: `/fast/…` streams as fast as the client takes,
 * `/slow/…` a byte every 50 ms; `/jwks-endless` and `/jwks-slow` are the key sets named by the
 * discovery documents under `/bad-keys` and `/slow-keys`.
 */
let loopback: Awaited<ReturnType<typeof startLoopback>>;
let base = '';

function stream(res: ServerResponse, fast: boolean): void {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.write('{"keys":[');
  if (fast) {
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    const pump = (): void => {
      while (!res.destroyed && res.write(chunk));
    };
    res.on('drain', pump);
    return pump();
  }
  const t = setInterval(() => (res.destroyed ? clearInterval(t) : res.write(' ')), 50);
  res.on('close', () => clearInterval(t));
}

beforeAll(async () => {
  loopback = await startLoopback((req, res) => {
    const path = req.url ?? '/';
    const doc = (issuer: string, jwks: string) =>
      res.end(
        JSON.stringify({
          issuer,
          jwks_uri: `${base}${jwks}`,
          authorization_endpoint: `${base}/auth`,
          token_endpoint: `${base}/token`,
        }),
      );
    if (path === '/bad-keys/.well-known/openid-configuration') return doc(`${base}/bad-keys`, '/jwks-endless');
    if (path === '/slow-keys/.well-known/openid-configuration') return doc(`${base}/slow-keys`, '/jwks-slow');
    stream(res, path.startsWith('/fast') || path === '/jwks-endless');
  });
  base = loopback.url;
});

afterAll(async () => {
  await loopback?.close();
});

const bounds = { maxBytes: 64 * 1024, timeoutMs: 500 };

function verifierFor(issuer: string): OidcVerifier {
  const settings: OidcSettings = {
    issuer,
    clientId: 'cairn',
    audience: 'cairn',
    groupsClaim: 'groups',
    usernameClaim: 'preferred_username',
    scopes: 'openid',
  };
  return new OidcVerifier(settings, { principalFor: async () => null }, bounds);
}

/** A well-formed JWS whose key id the verifier must fetch the provider's keys to look up. */
const token = [{ alg: 'RS256', kid: 'k1' }, { sub: 'x' }, 'sig']
  .map((p) => Buffer.from(typeof p === 'string' ? p : JSON.stringify(p)).toString('base64url'))
  .join('.');

describe('answers from the OpenID provider are bounded in size and time', () => {
  it('a discovery document that never ends is cut off at the size bound', async () => {
    await expect(discover(`${base}/fast`, fetch, bounds)).rejects.toMatchObject({
      code: 'SERVER_UNAVAILABLE',
      data: { tooLarge: true, maxBytes: bounds.maxBytes },
    });
  });

  it('a discovery document that trickles is cut off at the time bound', async () => {
    const err = await discover(`${base}/slow`, fetch, bounds).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'SERVER_UNAVAILABLE' });
    expect((err as Error).message).toContain('no complete answer in time');
  });

  it('a key set that never ends, or trickles, fails the token as SERVER_UNAVAILABLE', async () => {
    await expect(verifierFor(`${base}/bad-keys`).verifyToken(token)).rejects.toMatchObject({
      code: 'SERVER_UNAVAILABLE',
      data: { tooLarge: true },
    });
    await expect(verifierFor(`${base}/slow-keys`).verifyToken(token)).rejects.toMatchObject({
      code: 'SERVER_UNAVAILABLE',
    });
  });
});
