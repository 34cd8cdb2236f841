/**
 * PII detectors shared by the JavaScript scanner (text files) and the SQL checks (DuckDB's
 * RE2 engine): the same pattern sources run in both, so a value flagged in a table is the one
 * flagged in a file. RE2 has no look-around, so patterns match candidates and the checksum
 * kinds (cards, IBANs) are confirmed by a second test.
 */
export type PiiKind = 'email' | 'phone' | 'card' | 'iban';

export interface PiiPattern {
  kind: PiiKind;
  /** RE2- and ECMAScript-compatible source, used with the global flag. */
  source: string;
  /** What a redaction puts in place of a match. */
  token: string;
  /** Whether candidates need a checksum before they count. */
  checksum: 'luhn' | 'iban-mod97' | null;
}

export const PII_PATTERNS: readonly PiiPattern[] = [
  {
    kind: 'email',
    source: String.raw`[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}`,
    token: '[EMAIL]',
    checksum: null,
  },
  // International (+CC …) or North American forms with separators; bare digit runs are left
  // to the card and IBAN detectors, or every number in a table would count.
  {
    kind: 'phone',
    source: String.raw`(?:\+[1-9][0-9]{0,2}[ .-]?(?:\(?[0-9]{1,4}\)?[ .-]?){2,4}[0-9]{2,4}|\(?[2-9][0-9]{2}\)?[ .-][2-9][0-9]{2}[ .-][0-9]{4})`,
    token: '[PHONE]',
    checksum: null,
  },
  { kind: 'card', source: String.raw`[0-9](?:[ -]?[0-9]){12,18}`, token: '[CARD]', checksum: 'luhn' },
  { kind: 'iban', source: String.raw`[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}`, token: '[IBAN]', checksum: 'iban-mod97' },
];

/** The Luhn check of a card number's digits (separators ignored). */
export function luhnValid(candidate: string): boolean {
  const digits = candidate.replace(/[^0-9]/g, '');
  if (digits.length < 13 || digits.length > 19) return false;
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

/** ISO 13616 IBAN check: move the first four characters to the end, letters to 10..35, mod 97 = 1. */
export function ibanValid(candidate: string): boolean {
  const s = candidate.replace(/ /g, '').toUpperCase();
  if (s.length < 15 || s.length > 34 || !/^[A-Z]{2}[0-9]{2}[A-Z0-9]+$/.test(s)) return false;
  const moved = s.slice(4) + s.slice(0, 4);
  let rem = 0;
  for (const ch of moved) {
    const code = ch.charCodeAt(0);
    const v = code >= 65 ? code - 55 : code - 48;
    rem = v >= 10 ? (rem * 100 + v) % 97 : (rem * 10 + v) % 97;
  }
  return rem === 1;
}

export function confirms(p: PiiPattern, match: string): boolean {
  if (p.checksum === 'luhn') return luhnValid(match);
  if (p.checksum === 'iban-mod97') return ibanValid(match);
  return true;
}
