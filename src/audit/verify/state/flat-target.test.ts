import { describe, expect, it } from 'vitest';
import { hex, int, str } from './event-fields.js';
import { readFlatTarget, type FlatTarget } from './flat-target.js';

const D = 'ab'.repeat(32);

/** What the reconciler reads from a target parsed with JSON.parse. */
function viaJson(text: string): { name: string | null; version: number | null; digest: string | null } | 'invalid' {
  let t: unknown;
  try {
    t = JSON.parse(text);
  } catch {
    return 'invalid';
  }
  const o = (t && typeof t === 'object' ? t : {}) as Record<string, unknown>;
  return { name: str(o.name), version: int(o.version), digest: hex(o.digest) };
}

function viaFlat(text: string) {
  const out: FlatTarget = { name: null, version: null, digestStart: -1, digestEnd: -1 };
  if (!readFlatTarget(text, out)) return null;
  const digest = out.digestStart < 0 ? null : hex(text.slice(out.digestStart, out.digestEnd));
  return { name: out.name, version: out.version, digest };
}

describe('readFlatTarget', () => {
  const cases = [
    `{"digest":"sha256:${D}","name":"team/ds-1","type":"dataset","version":7}`,
    `{"name":"a","version":0}`,
    `{"digest":"${D}","name":"x"}`,
    `{"digest":"sha256:${D.toUpperCase()}","name":"x","version":1}`,
    `{"digest":"sha256:${D.slice(2)}","name":"x","version":1}`,
    `{"name":"","version":3}`,
    `{"name":"a","version":12345678901234567890}`,
    `{"name":"a","version":-1}`,
    `{"name":"a","version":1.5}`,
    `{"name":"a","version":1e3}`,
    `{"name":"a","version":01}`,
    `{"name":"a","version":"3"}`,
    `{"name":3,"version":3}`,
    `{"name":"a\\"b","version":3}`,
    `{"name":"a\\u0041","version":3}`,
    `{"name":"a\tb","version":3}`,
    `{"name":"a","version":3,"name":"b"}`,
    `{"name":"a","version":3,}`,
    `{"name":"a" ,"version":3}`,
    `{"name":"a","version":null}`,
    `{"name":"a","extra":{"x":1},"version":3}`,
    `{"name":"é/ü","version":2}`,
    `{}`,
    `[]`,
    `{"name":"a","version":3}x`,
  ];
  it('gives what JSON.parse gives, or declines', () => {
    for (const text of cases) {
      const flat = viaFlat(text);
      if (flat === null) continue;
      expect(flat, text).toEqual(viaJson(text));
    }
  });
  it('reads the targets Cairn writes without falling back', () => {
    expect(viaFlat(cases[0]!)).toEqual({ name: 'team/ds-1', version: 7, digest: D });
    expect(viaFlat(cases[2]!)).toEqual({ name: 'x', version: null, digest: D });
  });
  it('declines what it cannot read exactly (escapes, nesting, non-integers, bad JSON)', () => {
    for (const i of [7, 8, 9, 10, 13, 14, 15, 17, 18, 19, 20, 23, 24]) expect(viaFlat(cases[i]!), cases[i]).toBeNull();
  });
});
