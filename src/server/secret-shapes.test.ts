import { describe, expect, it } from 'vitest';
import { issueToken } from '../identity/tokens.js';
import { mulberry32 } from '../test-support/prng.js';
import { credentialNamed, findSecretField, secretKind } from './secret-shapes.js';

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

describe('credential shapes', () => {
  it('finds every kind wherever it sits in seeded random text and JSON, and names only its place', () => {
    const rnd = mulberry32(0x5ec7e7);
    const pick = (chars: string, n: number) =>
      Array.from({ length: n }, () => chars[Math.floor(rnd() * chars.length)]).join('');
    const makers: Array<[string, () => string]> = [
      ['Cairn', () => issueToken().token],
      ['AWS access key', () => `AKIA${pick(UPPER, 16)}`],
      ['GitHub', () => `ghp_${pick(ALNUM, 36)}`],
      ['Slack', () => `xoxb-${pick('0123456789', 11)}-${pick(ALNUM, 24)}`],
      ['Google', () => `AIza${pick(ALNUM, 35)}`],
      ['Hugging Face', () => `hf_${pick(ALNUM, 34)}`],
      ['JSON Web Token', () => `eyJ${pick(ALNUM, 20)}.eyJ${pick(ALNUM, 30)}.${pick(ALNUM, 40)}`],
      ['OpenAI', () => `sk-proj-${pick(ALNUM, 60)}`],
      ['private key', () => '-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn'],
    ];
    for (let i = 0; i < 400; i++) {
      const [kind, make] = makers[Math.floor(rnd() * makers.length)]!;
      const secret = make();
      const words = Array.from({ length: Math.floor(rnd() * 6) }, () => pick('abcdefgh ', 5));
      const text = [...words.slice(0, 2), secret, ...words.slice(2)].join(' ');
      expect(secretKind(text), `${kind}: ${text}`).toContain(kind.split(' ')[0]);
      const depth = Math.floor(rnd() * 3);
      let value: unknown = text;
      for (let d = 0; d < depth; d++) value = rnd() < 0.5 ? [1, value] : { ok: 'fine', v: value };
      const found = findSecretField({ a: 'x', b: value }, 'body');
      expect(found?.field.startsWith('body.b'), JSON.stringify(value)).toBe(true);
      expect(JSON.stringify(found)).not.toContain(secret.slice(8));
    }
  });

  it('passes seeded random prose, names and digests (no credential in them)', () => {
    const rnd = mulberry32(0xbeef);
    const pieces = ['AKIA', 'sk-', 'ghp_', 'hf_', 'eyJ', 'cairn_tok', 'xoxb', 'model', 'v12', '-', '_', ' ', '@', '.'];
    for (let i = 0; i < 2000; i++) {
      const text = Array.from({ length: 1 + Math.floor(rnd() * 12) }, () => pieces[Math.floor(rnd() * pieces.length)])
        .join('')
        .concat(rnd() < 0.3 ? ` sha256:${'0123456789abcdef'.repeat(4)}` : '');
      expect(secretKind(text), text).toBeNull();
    }
  });

  it('a run’s code files are not scanned, but their names are', () => {
    const aws = `AKIA${'Q'.repeat(16)}`;
    const skip = new Set(['body.files']);
    expect(findSecretField({ files: { 'train.py': aws } }, 'body', skip)).toBeNull();
    expect(findSecretField({ files: { [aws]: 'x' } }, 'body', skip)?.field).toBe('body.files.<key>');
    expect(findSecretField({ spec: aws, files: {} }, 'body', skip)?.field).toBe('body.spec');
  });

  it('a bare secret under a credential-named key is found; references, masks and tokenizer settings are not', () => {
    const rnd = mulberry32(0xc4ed);
    const pick = (chars: string, n: number) =>
      Array.from({ length: n }, () => chars[Math.floor(rnd() * chars.length)]).join('');
    const B64 = `${ALNUM}/+`;
    for (let i = 0; i < 300; i++) {
      const aws = pick(B64, 40);
      const found = findSecretField({ spec: { env: { aws_secret_access_key: aws } } }, 'body');
      expect(found, aws).toEqual({
        field: 'body.spec.env.aws_secret_access_key',
        kind: "a secret under a credential's name",
      });
      expect(JSON.stringify(found)).not.toContain(aws);
      for (const key of ['apiKey', 'client-secret', 'db.token', 'AUTH_TOKEN', 'refreshToken', 'credentials'])
        expect(credentialNamed(key, pick(ALNUM, 24 + Math.floor(rnd() * 40))), key).not.toBeNull();
    }
    expect(findSecretField({ params: { db_password: 'hunter2x' } }, 'body')?.kind).toBe('a password');
    expect(findSecretField({ params: { dbPassword: 'correct horse battery' } }, 'body')?.kind).toBe('a password');
    const honest: Record<string, unknown> = {
      pad_token: '<pad>',
      eos_token: '</s>',
      mask_token: '[MASK]',
      bos_token: '<|begin_of_text|>',
      max_tokens: 512,
      tokenizer: 'bert-base-uncased',
      token_count: '1234567890123456',
      password: '${DB_PASSWORD}',
      passwd: '$PGPASSWORD',
      api_key: 'env:OPENAI_API_KEY',
      secret: '***',
      client_secret: '<redacted>',
      secret_santa: 'q7Zr2pLx9Vb4Nw8Kc1',
      primary_key: 'Zq7r2pLx9Vb4Nw8Kc1Tt',
      token: 'the padding token',
      note: 'rotated the api key on Monday',
    };
    for (const [k, v] of Object.entries(honest)) expect(findSecretField({ [k]: v }, 'body'), k).toBeNull();
  });
});
