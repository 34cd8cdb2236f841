/**
 * Reads an event's `target` from its JSON text without JSON.parse when it is the plain flat
 * object Cairn writes: keys and string values without escapes or control characters, and
 * whole numbers written as digits. Anything else returns false and the caller parses the
 * text properly, so what comes out is always what JSON.parse would have given. A million
 * version events made a million small objects and strings; this makes none but the name.
 */
export interface FlatTarget {
  name: string | null;
  /** A safe non-negative integer, or null. */
  version: number | null;
  /** Where the digest string's characters start in the text, and end (-1: no digest). */
  digestStart: number;
  digestEnd: number;
}

const QUOTE = 34;
const BACKSLASH = 92;

/** Index of the closing quote of the plain string whose first character is at `i`, or -1. */
function plainStringEnd(t: string, i: number): number {
  const q = t.indexOf('"', i);
  if (q < 0) return -1;
  for (let j = i; j < q; j++) {
    const c = t.charCodeAt(j);
    if (c < 0x20 || c === BACKSLASH) return -1;
  }
  return q;
}

/** Index just past the digits at `i` (a JSON whole number: no sign, no leading zero, at most 15 digits), or -1. */
function digitsEnd(t: string, i: number): number {
  let j = i;
  while (j < t.length && t.charCodeAt(j) >= 48 && t.charCodeAt(j) <= 57) j++;
  if (j === i || j - i > 15 || (t.charCodeAt(i) === 48 && j - i > 1)) return -1;
  return j;
}

const keyIs = (t: string, from: number, to: number, key: string) => to - from === key.length && t.startsWith(key, from);

function setDigest(out: FlatTarget, start: number, end: number): void {
  out.digestStart = start;
  out.digestEnd = end;
}

export function readFlatTarget(t: string, out: FlatTarget): boolean {
  out.name = null;
  out.version = null;
  out.digestStart = -1;
  out.digestEnd = -1;
  if (t.charCodeAt(0) !== 123 || t.charCodeAt(t.length - 1) !== 125) return false;
  let i = 1;
  if (t.length === 2) return true;
  for (;;) {
    if (t.charCodeAt(i) !== QUOTE) return false;
    const keyEnd = plainStringEnd(t, i + 1);
    if (keyEnd < 0 || t.charCodeAt(keyEnd + 1) !== 58) return false;
    const key = keyIs(t, i + 1, keyEnd, 'name')
      ? 1
      : keyIs(t, i + 1, keyEnd, 'digest')
        ? 2
        : keyIs(t, i + 1, keyEnd, 'version')
          ? 3
          : 0;
    const v = keyEnd + 2;
    let end: number;
    if (t.charCodeAt(v) === QUOTE) {
      const q = plainStringEnd(t, v + 1);
      if (q < 0) return false;
      if (key === 1) out.name = q > v + 1 ? t.slice(v + 1, q) : null;
      else if (key === 2) setDigest(out, v + 1, q);
      else if (key === 3) out.version = null;
      end = q + 1;
    } else {
      end = digitsEnd(t, v);
      if (end < 0) return false;
      if (key === 3) out.version = Number(t.slice(v, end));
      else if (key === 1) out.name = null;
      else if (key === 2) setDigest(out, -1, -1);
    }
    const c = t.charCodeAt(end);
    if (c === 125) return end === t.length - 1;
    if (c !== 44) return false;
    i = end + 1;
  }
}
