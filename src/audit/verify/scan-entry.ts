/**
 * Reads the top-level `index`, `prev` and `action` of a log entry without building the whole
 * object. Verifying a million entries spent most of its time in JSON.parse; this skips nested
 * values structurally (strings via indexOf, containers by depth) and parses only the three
 * small values it needs. Returns null for anything that is not a JSON object at top level;
 * the caller then falls back to JSON.parse to describe the problem.
 */
export interface EntryFields {
  index: unknown;
  prev: unknown;
  action: unknown;
}

const QUOTE = 34;
const BACKSLASH = 92;
const COLON = 58;
const COMMA = 44;
const OPEN_OBJ = 123;
const CLOSE_OBJ = 125;
const OPEN_ARR = 91;
const CLOSE_ARR = 93;

/** Index just past the closing quote of the string starting at s[i] (a quote), or -1. */
function skipString(s: string, i: number): number {
  let j = i + 1;
  for (;;) {
    const q = s.indexOf('"', j);
    if (q < 0) return -1;
    let n = 0;
    for (let b = q - 1; s.charCodeAt(b) === BACKSLASH; b--) n++;
    if (n % 2 === 0) return q + 1;
    j = q + 1;
  }
}

/** Index just past the JSON value starting at s[i], or -1. */
function skipValue(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (c === QUOTE) return skipString(s, i);
  if (c === OPEN_OBJ || c === OPEN_ARR) {
    let depth = 0;
    let j = i;
    while (j < s.length) {
      const ch = s.charCodeAt(j);
      if (ch === QUOTE) {
        j = skipString(s, j);
        if (j < 0) return -1;
        continue;
      }
      if (ch === OPEN_OBJ || ch === OPEN_ARR) depth++;
      else if (ch === CLOSE_OBJ || ch === CLOSE_ARR) {
        depth--;
        if (depth === 0) return j + 1;
      }
      j++;
    }
    return -1;
  }
  let j = i;
  while (j < s.length) {
    const ch = s.charCodeAt(j);
    if (ch === COMMA || ch === CLOSE_OBJ || ch === CLOSE_ARR) break;
    j++;
  }
  return j > i ? j : -1;
}

/**
 * `keep`/`raw`: also record the JSON text of these top-level keys' values (slices of `s`, so
 * nearly free), for callers that parse a few small fields of every entry (the state
 * reconciliation of `audit verify`) without scanning or parsing it a second time.
 */
export function scanEntry(s: string, keep?: ReadonlySet<string>, raw?: Record<string, string>): EntryFields | null {
  if (s.charCodeAt(0) !== OPEN_OBJ) return null;
  const out: EntryFields = { index: undefined, prev: undefined, action: undefined };
  let i = 1;
  if (s.charCodeAt(i) === CLOSE_OBJ) return i + 1 === s.length ? out : null;
  for (;;) {
    if (s.charCodeAt(i) !== QUOTE) return null;
    const keyEnd = skipString(s, i);
    if (keyEnd < 0 || s.charCodeAt(keyEnd) !== COLON) return null;
    const key = s.slice(i + 1, keyEnd - 1);
    const vStart = keyEnd + 1;
    const vEnd = skipValue(s, vStart);
    if (vEnd < 0) return null;
    if (raw && keep!.has(key)) raw[key] = s.slice(vStart, vEnd);
    if (key === 'index' || key === 'prev' || key === 'action') {
      try {
        out[key] = JSON.parse(s.slice(vStart, vEnd));
      } catch {
        return null;
      }
    }
    const c = s.charCodeAt(vEnd);
    if (c === COMMA) {
      i = vEnd + 1;
      continue;
    }
    if (c === CLOSE_OBJ && vEnd + 1 === s.length) return out;
    return null;
  }
}
