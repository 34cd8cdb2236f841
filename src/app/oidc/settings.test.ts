import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_SCOPES, oidcSettings } from './settings.js';

describe('the OpenID settings of cairn server start', () => {
  it('are off without flags, and need both the issuer and the client id', () => {
    expect(oidcSettings({}, {})).toBeNull();
    expect(() => oidcSettings({ issuer: 'https://sso.example.com' }, {})).toThrow(/both --oidc-issuer/);
    expect(() => oidcSettings({ clientId: 'cairn' }, {})).toThrow(/both --oidc-issuer/);
  });

  it('take the defaults of docs/SERVER.md', () => {
    expect(oidcSettings({ issuer: 'https://sso.example.com/realms/ml', clientId: 'cairn' }, {})).toEqual({
      issuer: 'https://sso.example.com/realms/ml',
      clientId: 'cairn',
      audience: 'cairn',
      groupsClaim: 'groups',
      usernameClaim: 'preferred_username',
      scopes: DEFAULT_SCOPES,
    });
  });

  it('refuse a plain-http issuer except on loopback', () => {
    expect(() => oidcSettings({ issuer: 'http://sso.example.com', clientId: 'c' }, {})).toThrow(/https/);
    expect(oidcSettings({ issuer: 'http://127.0.0.1:9000', clientId: 'c' }, {})?.issuer).toBe('http://127.0.0.1:9000');
    expect(() => oidcSettings({ issuer: 'not a url', clientId: 'c' }, {})).toThrow(/takes a URL/);
  });

  it('read the client secret from a file or the environment, never from an argument', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cairn-oidc-secret-'));
    const file = join(dir, 'secret');
    writeFileSync(file, 's3cret\n', { mode: 0o600 });
    const base = { issuer: 'https://sso.example.com', clientId: 'c' };
    expect(oidcSettings({ ...base, clientSecretFile: file }, {})?.clientSecret).toBe('s3cret');
    expect(oidcSettings(base, { CAIRN_OIDC_CLIENT_SECRET: 'from-env' })?.clientSecret).toBe('from-env');
    expect(() => oidcSettings({ ...base, clientSecretFile: join(dir, 'missing') }, {})).toThrow(/cannot read/);
    writeFileSync(file, '  \n');
    chmodSync(file, 0o600);
    expect(() => oidcSettings({ ...base, clientSecretFile: file }, {})).toThrow(/is empty/);
  });
});
