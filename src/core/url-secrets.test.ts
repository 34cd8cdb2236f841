import { describe, expect, it } from 'vitest';
import { redactUrl, urlSecret } from './url-secrets.js';

describe('credentials in URLs', () => {
  it('finds a password in userinfo or a secret query parameter anywhere in a string; a user name alone is not a secret', () => {
    for (const [text, why] of [
      ['http://AKIA:secret@minio:9000', /password/],
      ['postgres://u:p@db/x?schema=s', /password/],
      ['curl -s https://bot:tok@example.com/hook', /password/],
      ['https://bucket.s3.amazonaws.com/k?X-Amz-Credential=a&X-Amz-Signature=b', /X-Amz-Credential/],
      ['https://hooks.example.com/x?token=abc', /token=/],
      ['https://api.example.com/v1?api_key=abc', /api_key=/],
    ] as const) {
      expect(urlSecret(text), text).toMatch(why);
    }
    for (const text of [
      'ssh://alice@host/srv/data',
      's3://bucket/prefix',
      'http://minio:9000',
      'postgres://u@db/x?schema=s',
      'a:b@c',
      'mailto:a@b.c',
      'https://x.org/p?page=2&sort=asc',
      'no url here',
      'http://host:9000/path@x',
    ]) {
      expect(urlSecret(text), text).toBeNull();
    }
  });

  it('redactUrl hides the password and secret query values, and keeps the rest', () => {
    expect(redactUrl('http://AKIA:secret@minio:9000/x')).toBe('http://AKIA:***@minio:9000/x');
    expect(redactUrl('https://h/p?sig=abc&page=2')).toBe('https://h/p?sig=***&page=2');
    expect(redactUrl('ssh://alice@host/srv')).toBe('ssh://alice@host/srv');
  });
});
