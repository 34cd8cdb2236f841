/**
 * Credentials by their shape. A write records its own fields in the signed, append-only audit
 * log (a token's label, a hold's reason, an override's reason, a model's signature): a secret
 * pasted there can never be taken back, so the server refuses it before anything happens.
 * Shapes are the issuers' published prefixes with enough characters after them that ordinary
 * words do not match ("AKIA-rotation", "sk-learn"). A generic high-entropy string (an AWS secret
 * access key alone is 40 base64 characters) is not guessed at in free text — digests and ids look
 * the same — only under a key that names a credential (`credentialNamed`).
 */
export const SECRET_SHAPES: ReadonlyArray<readonly [kind: string, shape: RegExp]> = [
  ['a Cairn API token', /cairn_tok[A-Za-z0-9]{12}_[A-Za-z0-9_-]{20,}/],
  ['an AWS access key id', /(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}(?![A-Za-z0-9])/],
  ['an AWS secret access key', /aws_secret_access_key["']?\s*[=:]\s*["']?[A-Za-z0-9/+]{40}/i],
  ['a GitHub token', /(?<![A-Za-z0-9])(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})/],
  ['a GitLab token', /(?<![A-Za-z0-9])glpat-[A-Za-z0-9_-]{20,}/],
  ['a Slack token', /(?<![A-Za-z0-9])xox[abposr]-[0-9]{6,}-[A-Za-z0-9-]{10,}/],
  ['a Google API key', /(?<![A-Za-z0-9])AIza[0-9A-Za-z_-]{35}/],
  ['a Hugging Face token', /(?<![A-Za-z0-9])hf_[A-Za-z0-9]{30,}/],
  [
    'an OpenAI or Anthropic API key',
    /(?<![A-Za-z0-9])sk-(?:proj-[A-Za-z0-9_-]{40,}|ant-[a-z0-9]+-[A-Za-z0-9_-]{40,}|[A-Za-z0-9]{48})/,
  ],
  ['a Stripe secret key', /(?<![A-Za-z0-9])[sr]k_live_[0-9A-Za-z]{20,}/],
  ['a private key', /-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----/],
  [
    'a JSON Web Token (an OpenID credential)',
    /(?<![A-Za-z0-9])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/,
  ],
];

/**
 * Keys that name a credential: the last word of the key (snake, kebab, dotted or camel case).
 * `pad_token`, `max_tokens`, `tokenizer` and `secret_santa` name no credential — the value test
 * below lets the first through, the others do not match.
 */
const CREDENTIAL_KEY =
  /(?:^|[_.-])(?:password|passwd|passphrase|pwd|secret|secret_?key|client_?secret|api_?key|access_?key|private_?key|auth_?token|access_?token|refresh_?token|bearer_?token|session_?token|token|credentials?)$/i;
const PASSWORD_KEY = /(?:^|[_.-])(?:password|passwd|passphrase|pwd)$/i;
/** `${DB_PASSWORD}`, `$TOKEN`, `env:X`, `<redacted>`, `***`: a reference or a mask, not a secret. */
const REFERENCE =
  /^(?:\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|env:[A-Za-z_][A-Za-z0-9_]*|<[^<>]*>|\*+|x+|changeme|none|null|redacted)$/i;

/** camelCase → snake_case, so `apiKey` and `clientSecret` read like `api_key`. */
const snake = (key: string) => key.replace(/([a-z0-9])([A-Z])/g, '$1_$2');

/** Bits of entropy per character of `text`, from its own character counts. */
function entropyPerChar(text: string): number {
  const counts = new Map<string, number>();
  for (const c of text) counts.set(c, (counts.get(c) ?? 0) + 1);
  let h = 0;
  for (const n of counts.values()) h -= (n / text.length) * Math.log2(n / text.length);
  return h;
}

/**
 * What a value under a credential-named key holds, or null: any non-reference password of 6+
 * characters; for the other names, a random-looking string (16+ characters without spaces,
 * two character classes or more, over 3.5 bits per character) — a padding token or an id
 * placeholder is not one.
 */
export function credentialNamed(key: string, value: unknown): string | null {
  if (typeof value !== 'string') return null;
  const name = snake(key);
  if (!CREDENTIAL_KEY.test(name)) return null;
  const v = value.trim();
  if (REFERENCE.test(v)) return null;
  if (PASSWORD_KEY.test(name)) return v.length >= 6 ? 'a password' : null;
  if (v.length < 16 || /\s/.test(v)) return null;
  const classes = [/[a-z]/, /[A-Z]/, /[0-9]/, /[^A-Za-z0-9]/].filter((c) => c.test(v)).length;
  return classes >= 2 && entropyPerChar(v) > 3.5 ? "a secret under a credential's name" : null;
}

/** The kind of credential `text` holds, or null. */
export function secretKind(text: string): string | null {
  for (const [kind, shape] of SECRET_SHAPES) if (shape.test(text)) return kind;
  return null;
}

/**
 * The first credential-shaped string in a JSON value (object keys too), with its place
 * (`body.signature.inputs[0].note.<key>`), or null. `skip` names places whose values are
 * content the server does not record (a run's code files): their keys are still checked.
 */
export function findSecretField(
  value: unknown,
  path: string,
  skip: ReadonlySet<string> = new Set(),
): { field: string; kind: string } | null {
  if (typeof value === 'string') {
    const kind = secretKind(value);
    return kind ? { field: path, kind } : null;
  }
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) {
      const f = findSecretField(v, `${path}[${i}]`, skip);
      if (f) return f;
    }
    return null;
  }
  if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      const kind = secretKind(k);
      if (kind) return { field: `${path}.<key>`, kind };
      // A key is named in the answer and the audit event only when it is a plain identifier.
      const at = `${path}.${/^[A-Za-z0-9_-]{1,64}$/.test(k) ? k : '<key>'}`;
      const named = skip.has(at) ? null : credentialNamed(k, v);
      if (named) return { field: at, kind: named };
      if (skip.has(at)) {
        if (v && typeof v === 'object')
          for (const name of Object.keys(v)) {
            const nameKind = secretKind(name);
            if (nameKind) return { field: `${at}.<key>`, kind: nameKind };
          }
        continue;
      }
      const f = findSecretField(v, at, skip);
      if (f) return f;
    }
  }
  return null;
}

const TOKEN_SECRET = /(cairn_tok[A-Za-z0-9]{12}_)[A-Za-z0-9_-]{20,}/g;

/** A token pasted into a filter, a path or a header is evidence of a mistake, never something to keep. */
export function scrubSecrets<T>(value: T): T {
  if (typeof value === 'string') return value.replace(TOKEN_SECRET, '$1[redacted]') as T;
  if (Array.isArray(value)) return value.map(scrubSecrets) as T;
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, scrubSecrets(v)])) as T;
  return value;
}
