import { describe, expect, it } from 'vitest';
import { nameProblem, normalizeTime, parseMetricLines } from './parse.js';

const one = (line: string) => parseMetricLines(`${line}\n`, '');

describe('parseMetricLines', () => {
  it('parses params and metrics, in order, with their exact values', () => {
    const text = [
      '{"kind":"param","name":"lr","value":0.01}',
      '{"kind":"param","name":"layers","value":[64,{"act":"relu"}],"note":"extra fields are ignored"}',
      '{"kind":"param","name":"resume","value":null}',
      '{"kind":"metric","name":"loss","value":0.31,"step":10,"time":"2026-11-27T03:00:00.000Z"}',
      '{"kind":"metric","name":"acc","value":-2,"step":null}',
      '{"kind":"metric","name":"gpu util %","value":1e3}',
      '',
      '   ',
      '{"kind":"metric","name":"lossΔ","value":5e-324,"step":9007199254740991,"time":"2026-11-27T04:00:00.123456+01:00"}\r',
      '',
    ].join('\n');
    expect(parseMetricLines(text, '')).toEqual({
      records: [
        { kind: 'param', name: 'lr', value: 0.01 },
        { kind: 'param', name: 'layers', value: [64, { act: 'relu' }] },
        { kind: 'param', name: 'resume', value: null },
        { kind: 'metric', name: 'loss', value: 0.31, step: 10, time: '2026-11-27T03:00:00.000Z' },
        { kind: 'metric', name: 'acc', value: -2, step: null, time: null },
        { kind: 'metric', name: 'gpu util %', value: 1000, step: null, time: null },
        { kind: 'metric', name: 'lossΔ', value: 5e-324, step: 9007199254740991, time: '2026-11-27T03:00:00.123Z' },
      ],
      carry: '',
      bad: [],
    });
  });

  it('carries a partial last line over to the next chunk, also across several chunks', () => {
    const line = '{"kind":"metric","name":"loss","value":0.5,"step":1}\n';
    const a = parseMetricLines(line + line.slice(0, 20), '');
    expect(a.records).toHaveLength(1);
    expect(a.carry).toBe(line.slice(0, 20));
    const b = parseMetricLines(line.slice(20, 30), a.carry);
    expect(b).toEqual({ records: [], carry: line.slice(0, 30), bad: [] });
    const c = parseMetricLines(Buffer.from(line.slice(30)), b.carry);
    expect(c).toEqual({
      records: [{ kind: 'metric', name: 'loss', value: 0.5, step: 1, time: null }],
      carry: '',
      bad: [],
    });
  });

  it('refuses NaN and Infinity however they are spelled', () => {
    expect(one('{"kind":"metric","name":"loss","value":NaN,"step":1}').bad).toEqual([
      {
        line: '{"kind":"metric","name":"loss","value":NaN,"step":1}',
        reason: '"value" must be a finite number (NaN and Infinity are not JSON)',
      },
    ]);
    expect(one('{"kind":"metric","name":"loss","value":-Infinity}').bad[0]!.reason).toBe(
      '"value" must be a finite number (NaN and Infinity are not JSON)',
    );
    expect(one('{"kind":"metric","name":"loss","value":1e999}').bad[0]!.reason).toBe('"value" must be a finite number');
    expect(one('{"kind":"metric","name":"loss","value":"NaN"}').bad[0]!.reason).toBe('"value" must be a finite number');
    expect(one('{"kind":"metric","name":"loss","value":"0.5"}').bad[0]!.reason).toBe('"value" must be a finite number');
    expect(one('{"kind":"metric","name":"loss","value":null}').bad[0]!.reason).toBe('"value" must be a finite number');
    expect(one('{"kind":"metric","name":"loss"}').bad[0]!.reason).toBe('"value" must be a finite number');
    // A param value is any JSON value, so only the parse of a bare NaN fails there.
    expect(one('{"kind":"param","name":"x","value":"NaN"}').records).toEqual([
      { kind: 'param', name: 'x', value: 'NaN' },
    ]);
  });

  it('reports bad JSON and non-objects without losing the good lines around them', () => {
    const r = parseMetricLines(
      [
        '{"kind":"metric","name":"a","value":1}',
        '{"kind":"metric","name":"b","value":',
        'epoch 3 done',
        '[1,2]',
        'null',
        '"text"',
        '{"kind":"metric","name":"c","value":3}',
        '',
      ].join('\n'),
      '',
    );
    expect(r.records.map((x) => x.name)).toEqual(['a', 'c']);
    expect(r.bad).toEqual([
      { line: '{"kind":"metric","name":"b","value":', reason: 'not valid JSON' },
      { line: 'epoch 3 done', reason: 'not valid JSON' },
      { line: '[1,2]', reason: 'not a JSON object' },
      { line: 'null', reason: 'not a JSON object' },
      { line: '"text"', reason: 'not a JSON object' },
    ]);
  });

  it('reports a missing or unknown kind', () => {
    for (const line of [
      '{"name":"a","value":1}',
      '{"kind":"metrics","name":"a","value":1}',
      '{"kind":"PARAM","name":"a","value":1}',
      '{"kind":null,"name":"a","value":1}',
    ]) {
      expect(one(line)).toEqual({
        records: [],
        carry: '',
        bad: [{ line, reason: '"kind" must be "param" or "metric"' }],
      });
    }
  });

  it('reports a param without a value and a param value that is not well-formed Unicode', () => {
    expect(one('{"kind":"param","name":"a"}').bad[0]!.reason).toBe('"value" is missing');
    expect(one('{"kind":"param","name":"a","value":{"k":"\\ud800"}}').bad[0]!.reason).toBe(
      '"value" must be well-formed Unicode',
    );
  });

  it('enforces the name rules: a string of 1 to 200 code points without control characters', () => {
    const ok = (name: string) => one(JSON.stringify({ kind: 'metric', name, value: 1 })).records.length === 1;
    const reason = (name: unknown) => one(JSON.stringify({ kind: 'metric', name, value: 1 })).bad[0]?.reason;
    expect(ok('x'.repeat(200))).toBe(true);
    expect(ok('😀'.repeat(200))).toBe(true); // 400 UTF-16 units, 200 characters
    expect(ok('train/loss (smoothed) ü')).toBe(true);
    expect(reason('x'.repeat(201))).toBe('"name" must be 1 to 200 characters');
    expect(reason('')).toBe('"name" must be 1 to 200 characters');
    expect(reason('a\tb')).toBe('"name" must not contain control characters');
    expect(reason('a\u0000')).toBe('"name" must not contain control characters');
    expect(reason('a\u007f')).toBe('"name" must not contain control characters');
    expect(reason('a\u0085')).toBe('"name" must not contain control characters');
    expect(reason('a\ud800')).toBe('"name" must be well-formed Unicode');
    expect(reason(5)).toBe('"name" must be a string');
    expect(reason(undefined)).toBe('"name" must be a string');
    expect(nameProblem('ok')).toBeNull();
  });

  it('checks steps: an integer ≥ 0 up to 2^53 − 1, or null', () => {
    const reason = (step: string) => one(`{"kind":"metric","name":"a","value":1,"step":${step}}`).bad[0]?.reason;
    expect(reason('0')).toBeUndefined();
    expect(reason('3.0')).toBeUndefined(); // the same number as 3 in JSON
    for (const s of ['-1', '1.5', '"3"', 'true', '9007199254740992', '[1]'])
      expect(reason(s)).toBe('"step" must be an integer ≥ 0 or null');
  });

  it('checks and normalizes times', () => {
    const time = (t: string) => one(`{"kind":"metric","name":"a","value":1,"time":${JSON.stringify(t)}}`);
    expect(time('2026-11-27T03:00:00Z').records[0]).toMatchObject({ time: '2026-11-27T03:00:00.000Z' });
    expect(time('2026-11-27T03:00:00.57Z').records[0]).toMatchObject({ time: '2026-11-27T03:00:00.570Z' });
    expect(time('2026-11-27T00:30:00-01:15').records[0]).toMatchObject({ time: '2026-11-27T01:45:00.000Z' });
    for (const t of [
      '2026-02-30T00:00:00Z',
      '2026-11-27T24:00:00Z',
      '2026-11-27T03:00:00',
      '2026-11-27',
      '1764212400',
      'yesterday',
    ]) {
      expect(time(t).bad[0]?.reason).toBe('"time" must be an RFC 3339 time such as 2026-11-27T03:00:00.000Z');
    }
    expect(one('{"kind":"metric","name":"a","value":1,"time":1764212400}').bad[0]?.reason).toBe(
      '"time" must be an RFC 3339 time such as 2026-11-27T03:00:00.000Z',
    );
    // The SDKs' own form takes a hand-written fast path; it must agree with the general one.
    for (const ok of ['2028-02-29T23:59:59.999Z', '2000-02-29T00:00:00.000Z', '2026-12-31T00:00:00.000Z'])
      expect(normalizeTime(ok)).toBe(ok);
    for (const bad of [
      '2026-02-29T00:00:00.000Z',
      '2100-02-29T00:00:00.000Z',
      '2026-04-31T00:00:00.000Z',
      '2026-13-01T00:00:00.000Z',
      '2026-00-01T00:00:00.000Z',
      '2026-01-00T00:00:00.000Z',
      '2026-11-27T03:00:60.000Z',
      '2026-11-27T03:60:00.000Z',
      '2026-11-27T24:00:00.000Z',
      '2026-11-27T03:00:0a.000Z',
      '2026-11-27_03:00:00.000Z',
    ]) {
      expect(normalizeTime(bad)).toBeNull();
    }
    expect(normalizeTime('2026-11-27t03:00:00.000z')).toBe('2026-11-27T03:00:00.000Z');
    expect(normalizeTime('2026-11-27 03:00:00.000Z')).toBe('2026-11-27T03:00:00.000Z');
    expect(normalizeTime('0050-01-01T00:00:00Z')).toBe('0050-01-01T00:00:00.000Z');
  });

  it('cuts reported lines to 200 characters', () => {
    const line = `{"kind":"bogus","pad":"${'x'.repeat(500)}"}`;
    const r = one(line);
    expect(r.bad[0]!.line).toBe(line.slice(0, 200));
    const pairs = `{"kind":"bogus","pad":"${'😀'.repeat(300)}"}`;
    const cut = one(pairs).bad[0]!.line;
    expect(cut.length).toBeLessThanOrEqual(200);
    expect(cut).toBe(pairs.slice(0, cut.length));
    expect(/[\uD800-\uDBFF]$/.test(cut)).toBe(false);
  });
});
