import { describe, expect, it } from 'vitest';
import { canonicalJson, canonicalJsonBytes } from './canonical-json.js';
import { isCairnError } from './errors.js';
import { mulberry32 } from '../test-support/prng.js';

function refusal(value: unknown): unknown {
  try {
    canonicalJson(value);
  } catch (err) {
    return err;
  }
  return null;
}

describe('canonicalJson: RFC 8785 test vectors', () => {
  it('reproduces the RFC 8785 §3.2.2 example byte for byte', () => {
    // The input is the RFC's literal text, parsed as JSON so its escapes mean what the RFC says.
    const input = JSON.parse(String.raw`{
      "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
      "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
      "literals": [null, true, false]
    }`);
    const expected = String.raw`{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`;
    expect(canonicalJson(input)).toBe(expected);
    // The RFC's UTF-8 rendering of the same output (§3.2.4) starts with these bytes.
    expect(canonicalJsonBytes(input).subarray(0, 12).toString('hex')).toBe('7b226c69746572616c73223a');
    expect(canonicalJsonBytes(input).toString('utf8')).toBe(expected);
  });

  it('sorts keys by UTF-16 code units (RFC 8785 §3.2.3), including a non-BMP key', () => {
    const input = {
      '\u20ac': 'Euro Sign',
      '\r': 'Carriage Return',
      '\ufb33': 'Hebrew Letter Dalet With Dagesh',
      '1': 'One',
      '\ud83d\ude00': 'Emoji: Grinning Face',
      '\u0080': 'Control',
      '\u00f6': 'Latin Small Letter O With Diaeresis',
    };
    const out = canonicalJson(input);
    // Read the order from the text: JSON.parse would move the integer-like key "1" first.
    const valuesInTextOrder = [...out.matchAll(/:"([^"]*)"/g)].map((m) => m[1]);
    expect(valuesInTextOrder).toEqual([
      'Carriage Return',
      'One',
      'Control',
      'Latin Small Letter O With Diaeresis',
      'Euro Sign',
      'Emoji: Grinning Face',
      'Hebrew Letter Dalet With Dagesh',
    ]);
    // The surrogate pair D83D DE00 sorts before U+FB33 in UTF-16 even though U+1F600 > U+FB33.
    expect(out).toBe(
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    );
  });

  it('serializes numbers exactly as RFC 8785 Appendix B lists them', () => {
    // [IEEE-754 bit pattern, expected text] straight from the RFC's table.
    const vectors: Array<[string, string]> = [
      ['0000000000000000', '0'],
      ['8000000000000000', '0'],
      ['0000000000000001', '5e-324'],
      ['8000000000000001', '-5e-324'],
      ['7fefffffffffffff', '1.7976931348623157e+308'],
      ['ffefffffffffffff', '-1.7976931348623157e+308'],
      ['4340000000000000', '9007199254740992'],
      ['c340000000000000', '-9007199254740992'],
      ['4430000000000000', '295147905179352830000'],
      ['44b52d02c7e14af5', '9.999999999999997e+22'],
      ['44b52d02c7e14af6', '1e+23'],
      ['44b52d02c7e14af7', '1.0000000000000001e+23'],
      ['444b1ae4d6e2ef4e', '999999999999999700000'],
      ['444b1ae4d6e2ef4f', '999999999999999900000'],
      ['444b1ae4d6e2ef50', '1e+21'],
      ['3eb0c6f7a0b5ed8c', '9.999999999999997e-7'],
      ['3eb0c6f7a0b5ed8d', '0.000001'],
      ['41b3de4355555553', '333333333.3333332'],
      ['41b3de4355555554', '333333333.33333325'],
      ['41b3de4355555555', '333333333.3333333'],
      ['41b3de4355555556', '333333333.3333334'],
      ['41b3de4355555557', '333333333.33333343'],
      ['becbf647612f3696', '-0.0000033333333333333333'],
      ['43143ff3c1cb0959', '1424953923781206.2'],
    ];
    for (const [bits, text] of vectors) {
      expect(canonicalJson(Buffer.from(bits, 'hex').readDoubleBE(0)), bits).toBe(text);
    }
  });

  it('serializes the everyday numbers the brief names', () => {
    expect(canonicalJson([1e30, 4.5, 0.002, 1e-7, -0, 100, 1e21, 1e20, -1.5])).toBe(
      '[1e+30,4.5,0.002,1e-7,0,100,1e+21,100000000000000000000,-1.5]',
    );
  });

  it('escapes exactly the control characters, quote and backslash', () => {
    const all = Array.from({ length: 0x20 }, (_, i) => String.fromCharCode(i)).join('');
    expect(canonicalJson(all)).toBe(
      '"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000b\\f\\r\\u000e\\u000f' +
        '\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f"',
    );
    // DEL, '/', non-ASCII and a surrogate pair go out literally; only " and \ are escaped.
    expect(canonicalJson('\u007f/é😀"\\')).toBe('"\u007f/é😀\\"\\\\"');
  });

  it('has no whitespace, nests arrays and objects, and sorts keys at every level', () => {
    expect(canonicalJson({ b: [{ z: 1, a: [] }, {}], a: { d: null, c: 'x' } })).toBe(
      '{"a":{"c":"x","d":null},"b":[{"a":[],"z":1},{}]}',
    );
    expect(canonicalJson([])).toBe('[]');
    expect(canonicalJson({})).toBe('{}');
    expect(canonicalJson(true)).toBe('true');
    expect(canonicalJson(null)).toBe('null');
  });

  it('sorts keys by code units, not by locale or code points', () => {
    // 'B' (0x42) < 'a' (0x61); '\uff01' > '\ud800\udc00' as UTF-16 although U+FF01 < U+10000.
    expect(canonicalJson({ a: 1, B: 2, '\uff01': 3, '\u{10000}': 4, aa: 5, '': 6 })).toBe(
      '{"":6,"B":2,"a":1,"aa":5,"\u{10000}":4,"\uff01":3}',
    );
  });

  it('gives the same text whatever order the object was built in', () => {
    const one = canonicalJson({ x: 1, y: { p: 1, q: 2 } });
    const two = canonicalJson({ y: { q: 2, p: 1 }, x: 1 });
    expect(one).toBe(two);
  });
});

describe('canonicalJson: values JSON cannot carry', () => {
  it('refuses NaN and the infinities with INVALID_INPUT naming the place', () => {
    for (const bad of [NaN, Infinity, -Infinity]) {
      const err = refusal({ a: [1, bad] });
      expect(isCairnError(err, 'INVALID_INPUT')).toBe(true);
      expect((err as Error).message).toContain('$.a[1]');
    }
  });

  it('refuses lone surrogates in strings and in keys, but accepts proper pairs', () => {
    for (const s of ['\ud800', 'a\udc00', '\udc00\ud800', 'x\ud83d']) {
      expect(isCairnError(refusal(s), 'INVALID_INPUT'), JSON.stringify(s)).toBe(true);
      expect(isCairnError(refusal({ [s]: 1 }), 'INVALID_INPUT'), `key ${JSON.stringify(s)}`).toBe(true);
    }
    expect(canonicalJson('\ud83d\ude00')).toBe('"😀"');
  });

  it('drops undefined object members (as JSON.stringify does) but refuses undefined elsewhere', () => {
    expect(canonicalJson({ a: undefined, b: 1 })).toBe('{"b":1}');
    // In an array a hole cannot be dropped without shifting indexes, so it is an error.
    const err = refusal([1, undefined]);
    expect(isCairnError(err, 'INVALID_INPUT')).toBe(true);
    expect((err as Error).message).toContain('$[1]');
    expect(isCairnError(refusal(undefined), 'INVALID_INPUT')).toBe(true);
  });

  it('refuses bigint, functions and symbols', () => {
    for (const bad of [10n, () => 1, Symbol('s')]) {
      expect(isCairnError(refusal({ k: bad }), 'INVALID_INPUT')).toBe(true);
    }
  });

  it('refuses objects that are not plain data instead of silently writing {}', () => {
    // A Date or Map would otherwise canonicalize to "{}" and lose its content without a word
    // (JSON.stringify would at least call Date#toJSON); audit params are Record<string, unknown>.
    for (const bad of [
      new Date(0),
      new Map([['a', 1]]),
      new Set([1]),
      Buffer.from('x'),
      new (class Point {
        x = 1;
      })(),
    ]) {
      const err = refusal({ p: bad });
      expect(isCairnError(err, 'INVALID_INPUT'), String(bad)).toBe(true);
      expect((err as Error).message).toContain('$.p');
    }
    // Objects without a prototype (e.g. from Object.create(null)) are plain data.
    const bare = Object.create(null) as Record<string, unknown>;
    bare.b = 2;
    bare.a = 1;
    expect(canonicalJson(bare)).toBe('{"a":1,"b":2}');
  });
});

/** The implementation before the fast path (a path built for every value): the reference the fast one must match. */
function reference(value: unknown, path = '$'): string {
  const fail = (what: string): never => {
    throw new Error(`cannot canonicalize ${what} at ${path}`);
  };
  const lone = (s: string) => /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      return Number.isFinite(value) ? JSON.stringify(value) : fail('a non-finite number');
    case 'string':
      return lone(value) ? fail('a string with a lone UTF-16 surrogate') : JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) return '[' + value.map((v, i) => reference(v, `${path}[${i}]`)).join(',') + ']';
      const proto = Object.getPrototypeOf(value) as unknown;
      if (proto !== Object.prototype && proto !== null)
        fail(`a ${(value as object).constructor?.name ?? 'non-plain'} object (only plain objects and arrays)`);
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj)
        .filter((k) => obj[k] !== undefined)
        .sort();
      const parts = keys.map((k) =>
        lone(k)
          ? fail('a key with a lone UTF-16 surrogate')
          : JSON.stringify(k) + ':' + reference(obj[k], `${path}.${k}`),
      );
      return '{' + parts.join(',') + '}';
    }
    default:
      return fail(`a value of type ${typeof value}`);
  }
}

describe('canonicalJson: the fast path says what the path-building one says', () => {
  it('gives the same text, or refuses with the same message at the same place, for random values', () => {
    for (let seed = 1; seed <= 400; seed++) {
      const rnd = mulberry32(seed);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
      // Mostly valid values, now and then one thing canonical JSON refuses, anywhere in the tree.
      const strings = ['', 'a', 'b"c\\d', '\u20ac', '\ud83d\ude00', 'x\u0001y', '10', '__proto__x'];
      const bad = [NaN, Infinity, '\ud800', 'a\udc00', undefined, new Date(0), 10n, () => 1];
      const value = (depth: number): unknown => {
        const r = rnd();
        if (r < 0.02) return pick(bad);
        if (depth > 3 || r < 0.45)
          return pick([null, true, false, 0, -0, 1.5, 1e21, -7, ...strings, Math.floor(rnd() * 1e6)]);
        if (r < 0.7) return Array.from({ length: Math.floor(rnd() * 4) }, () => value(depth + 1));
        const o: Record<string, unknown> = rnd() < 0.1 ? (Object.create(null) as Record<string, unknown>) : {};
        for (let i = Math.floor(rnd() * 5); i > 0; i--)
          o[rnd() < 0.03 ? '\udbff' : pick(strings) + i] = value(depth + 1);
        if (rnd() < 0.2) o.skipped = undefined;
        return o;
      };
      const v = value(0);
      let want: string | Error;
      try {
        want = reference(v);
      } catch (err) {
        want = err as Error;
      }
      if (typeof want === 'string') expect(canonicalJson(v), `seed ${seed}`).toBe(want);
      else {
        const got = refusal(v);
        expect(isCairnError(got, 'INVALID_INPUT'), `seed ${seed}`).toBe(true);
        expect((got as Error).message, `seed ${seed}`).toBe(want.message);
      }
    }
  });
});
