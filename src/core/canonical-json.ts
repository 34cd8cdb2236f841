import { CairnError } from './errors.js';

/**
 * RFC 8785 (JSON Canonicalization Scheme). ECMAScript's JSON.stringify already serializes
 * numbers and strings exactly as JCS requires, so the only extra work is ordering object keys
 * by UTF-16 code units (the default JS sort order) and refusing values JSON cannot carry.
 */
export function canonicalJson(value: unknown): string {
  try {
    return fast(value);
  } catch (err) {
    if (err !== REFUSED) throw err;
    // Said again with the place of what was refused: only a refusal pays for building paths.
    return serialize(value, '$');
  }
}

export function canonicalJsonBytes(value: unknown): Buffer {
  return Buffer.from(canonicalJson(value), 'utf8');
}

/** Thrown by `fast` for whatever `serialize` refuses (which then says where). */
const REFUSED = Symbol('refused');

/**
 * The same text as `serialize` for every value it accepts, without a path per value (the audit
 * log encodes every served request's event: the paths were most of what encoding allocated).
 */
function fast(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw REFUSED;
      return JSON.stringify(value);
    case 'string':
      if (!wellFormed(value)) throw REFUSED;
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) out += (i === 0 ? '' : ',') + fast(value[i]);
        return out + ']';
      }
      const proto = Object.getPrototypeOf(value) as unknown;
      if (proto !== Object.prototype && proto !== null) throw REFUSED;
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj).sort();
      let out = '{';
      for (const k of keys) {
        const v = obj[k];
        if (v === undefined) continue;
        if (!wellFormed(k)) throw REFUSED;
        out += (out.length === 1 ? '' : ',') + JSON.stringify(k) + ':' + fast(v);
      }
      return out + '}';
    }
    default:
      throw REFUSED;
  }
}

// String.prototype.isWellFormed (Node ≥ 20) is the same test as the regular expression, without running one.
const isWellFormed = (String.prototype as { isWellFormed?: (this: string) => boolean }).isWellFormed;
const wellFormed = (s: string): boolean => (isWellFormed ? isWellFormed.call(s) : !hasLoneSurrogate(s));

function serialize(value: unknown, path: string): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) fail(path, 'a non-finite number');
      return JSON.stringify(value);
    case 'string':
      if (hasLoneSurrogate(value)) fail(path, 'a string with a lone UTF-16 surrogate');
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) {
        return '[' + value.map((v, i) => serialize(v, `${path}[${i}]`)).join(',') + ']';
      }
      // Only plain data: a Date, Map, Buffer or class instance would otherwise come out as
      // "{}" (or as its index keys) and silently lose what it holds.
      const proto = Object.getPrototypeOf(value) as unknown;
      if (proto !== Object.prototype && proto !== null) {
        fail(path, `a ${(value as object).constructor?.name ?? 'non-plain'} object (only plain objects and arrays)`);
      }
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj)
        .filter((k) => obj[k] !== undefined)
        .sort();
      const parts: string[] = [];
      for (const k of keys) {
        if (hasLoneSurrogate(k)) fail(path, 'a key with a lone UTF-16 surrogate');
        parts.push(JSON.stringify(k) + ':' + serialize(obj[k], `${path}.${k}`));
      }
      return '{' + parts.join(',') + '}';
    }
    default:
      return fail(path, `a value of type ${typeof value}`);
  }
}

function hasLoneSurrogate(s: string): boolean {
  return /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);
}

function fail(path: string, what: string): never {
  throw new CairnError('INVALID_INPUT', `cannot canonicalize ${what} at ${path}`);
}
