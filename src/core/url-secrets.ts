/**
 * Credentials that ride inside URLs: `scheme://user:password@host` and query parameters such
 * as a presigned URL's signature or an API token. Whatever holds one must not be written to a
 * config file, an error message or the audit log (which is signed and pushed to every remote).
 */

/** Query parameter names that carry a secret (matched case-insensitively, whole name). */
const SECRET_PARAMS =
  /^(?:password|passwd|pwd|pass|secret|client_secret|token|access_token|refresh_token|id_token|auth|authorization|api[-_]?key|apikey|key|sig|signature|x-amz-signature|x-amz-credential|x-amz-security-token|awsaccesskeyid|x-goog-signature|x-goog-credential)$/i;

/** `scheme://` followed by userinfo; the user part alone (`ssh://alice@host`) is not a secret. */
const USERINFO = /\b[a-z][a-z0-9+.-]*:\/\/([^/?#\s@]*)@/gi;

/**
 * Why `text` carries a credential in a URL it contains, or null. Scans the whole string, so a
 * URL inside a longer value (a command line, a message) is found too.
 */
export function urlSecret(text: string): string | null {
  if (!text.includes('://')) return null;
  for (const m of text.matchAll(USERINFO)) {
    if (m[1]!.includes(':')) return 'a URL carries a password (user:password@host)';
  }
  for (const m of text.matchAll(/:\/\/[^\s?#]*\?([^\s#]*)/g)) {
    for (const part of m[1]!.split('&')) {
      const name = decodeSafe(part.split('=')[0] ?? '');
      if (part.includes('=') && SECRET_PARAMS.test(name)) return `a URL carries a credential in its query (${name}=…)`;
    }
  }
  return null;
}

/** The URL with any password and secret-looking query values replaced by `***` (for messages). */
export function redactUrl(text: string): string {
  return text
    .replace(USERINFO, (all, info: string) =>
      info.includes(':') ? all.replace(`${info}@`, `${info.slice(0, info.indexOf(':'))}:***@`) : all,
    )
    .replace(
      /(:\/\/[^\s?#]*\?)([^\s#]*)/g,
      (_all, head: string, query: string) =>
        head +
        query
          .split('&')
          .map((part) => {
            const eq = part.indexOf('=');
            return eq > 0 && SECRET_PARAMS.test(decodeSafe(part.slice(0, eq))) ? `${part.slice(0, eq)}=***` : part;
          })
          .join('&'),
    );
}

function decodeSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
