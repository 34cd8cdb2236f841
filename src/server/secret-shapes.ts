/**
 * Credentials by their shape. A write records its own fields in the signed, append-only audit
 * log (a token's label, a hold's reason, an override's reason, a model's signature): a secret
 * pasted there can never be taken back, so the server refuses it before anything happens.
 * Shapes are the issuers' published prefixes with enough characters after them that ordinary
 * words do not match ("AKIA-rotation", "sk-learn"); generic high-entropy strings (an AWS secret
 * access key alone is 40 base64 characters) are not guessed at.
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
