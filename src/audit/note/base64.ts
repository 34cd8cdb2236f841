const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Standard, padded base64 (RFC 4648 §4) in its one canonical spelling, or null. Node's own decoder
 * skips junk and accepts missing padding and non-zero trailing bits, which would let one signed
 * value be written several ways.
 */
export function decodeBase64Strict(text: string): Buffer | null {
  if (!BASE64.test(text)) return null;
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? bytes : null;
}
