import { describe, expect, it } from 'vitest';
import type { CairnError } from '../../../core/errors.js';
import { humanRunName, validHumanRunName } from '../../../core/run-names.js';
import { closest, applyOverrides, parseRunSpec } from '../../run-spec/run-spec.js';
import { fieldValue, neededNames, parseSort, type RunRecord } from './fields.js';
import { compareValues, matches, parseFilter, type FilterNode, type Scalar } from './filter.js';

const rec = (over: Partial<RunRecord> = {}): RunRecord => ({
  base: {
    id: '01a2-x',
    name: 'brave-otter-07',
    spec: 'train',
    project: 'default',
    status: 'completed',
    backend: 'local',
    gpus: 1,
    created: '2026-12-05T02:00:00.000Z',
    started: null,
    ended: null,
    duration: 12.5,
    gpuHours: 0.25,
    exit: 0,
    note: 'first try',
  },
  tags: { team: 'vision' },
  params: { lr: 0.01, opt: 'adam', layers: [1, 2], flag: true, lrText: '0.5' },
  metrics: {
    acc: { last: 0.93, min: 0.5, max: 0.95, points: 10 },
    'val/loss': { last: 0.2, min: 0.1, max: 2, points: 5 },
  },
  ...over,
});

const run = (f: string, r = rec()) => matches(parseFilter(f), (x) => fieldValue(r, x));

describe('run ls --filter: a small parser, evaluated per run', () => {
  it('compares numbers, text, booleans, tags and metric statistics; and/or/not with the usual precedence', () => {
    expect(run('metrics.acc > 0.9 and params.lr < 0.1')).toBe(true);
    expect(run('metrics.acc > 0.95')).toBe(false);
    expect(run('metrics.acc.max >= 0.95 && metrics.acc.min == 0.5')).toBe(true);
    expect(run('metrics.val/loss < 0.3')).toBe(true);
    expect(run("params.opt == 'adam'")).toBe(true);
    expect(run('params.opt = adam')).toBe(true);
    expect(run('params.opt != sgd')).toBe(true);
    expect(run('params.flag == true')).toBe(true);
    expect(run('tags.team == vision and status == completed')).toBe(true);
    expect(run('status == failed or params.lr < 1 and gpus == 1')).toBe(true); // and binds tighter
    expect(run('(status == failed or params.lr < 1) and gpus == 2')).toBe(false);
    expect(run('not status == failed')).toBe(true);
    expect(run('! (status == completed)')).toBe(false);
    expect(run('note ~ first')).toBe(true);
    expect(run('created > 2026-12-01')).toBe(true);
    expect(run('created < 2026-12-05T01:00Z')).toBe(false);
    expect(run('params.lrText > 0.4')).toBe(true); // numeric text against a number compares as numbers
    expect(run('duration >= 12.5 and gpuHours < 1e0')).toBe(true);
    expect(run('params.layers == "[1,2]"')).toBe(true);
  });

  it('a missing value matches only == null and !=, never an ordering', () => {
    expect(run('metrics.f1 > 0')).toBe(false);
    expect(run('metrics.f1 < 0')).toBe(false);
    expect(run('metrics.f1 == null')).toBe(true);
    expect(run('metrics.acc != null')).toBe(true);
    expect(run('params.momentum != 0.9')).toBe(true);
    expect(run('not metrics.f1 > 0')).toBe(true);
  });

  it('mistakes are USAGE errors that point at the column; nothing is evaluated as code', () => {
    const err = (f: string) => {
      try {
        parseFilter(f);
      } catch (e) {
        return e as CairnError;
      }
      throw new Error(`${f} parsed`);
    };
    expect(err('metrics.acc >').message).toContain('expected a value');
    expect(err('metrics.acc 0.9').message).toContain('expected a comparison');
    expect(err('(status == x').message).toContain('expected ")"');
    expect(err("params.opt == 'adam").message).toContain('never closed');
    expect(err('process.exit(1)').code).toBe('USAGE');
    expect(err('a == 1 b == 2').data).toMatchObject({ column: 8 });
    expect(err('status == x; rm -rf /').message).toContain('unexpected');
  });

  it('property: the parser agrees with a reference evaluation of random expressions', () => {
    // Random trees printed with full parentheses must evaluate like the tree itself.
    let seed = 42;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    const fields = ['metrics.acc', 'params.lr', 'gpus', 'params.opt', 'metrics.none'];
    const values: Scalar[] = [0.01, 0.93, 1, 'adam', 0.5, null];
    const ops = ['==', '!=', '<', '<=', '>', '>='] as const;
    const gen = (d: number): [string, FilterNode] => {
      const k = d > 3 ? 3 : rnd(4);
      if (k === 3) {
        const field = fields[rnd(fields.length)]!;
        const op = ops[rnd(ops.length)]!;
        const value = values[rnd(values.length)]!;
        const text = value === null ? 'null' : typeof value === 'string' ? `'${value}'` : String(value);
        return [`${field} ${op} ${text}`, { kind: 'cmp', field, op, value }];
      }
      if (k === 2) {
        const [t, n] = gen(d + 1);
        return [`not (${t})`, { kind: 'not', operand: n }];
      }
      const [a, x] = gen(d + 1);
      const [b, y] = gen(d + 1);
      const kind = k === 0 ? 'and' : 'or';
      return [`(${a}) ${kind} (${b})`, { kind, left: x, right: y }];
    };
    for (let i = 0; i < 300; i++) {
      const [text, tree] = gen(0);
      expect(parseFilter(text)).toEqual(tree);
      const get = (f: string) => fieldValue(rec(), f);
      expect(matches(parseFilter(text), get)).toBe(matches(tree, get));
    }
  });

  it('ordering: numbers by value, text by code points, nothing across kinds or with a missing side', () => {
    expect(compareValues(2, 10)).toBe(-1);
    expect(compareValues('2', 10)).toBe(-1);
    expect(compareValues('b', 'a')).toBe(1);
    expect(compareValues('abc', 1)).toBeNull();
    expect(compareValues(undefined, 1)).toBeNull();
    expect(compareValues(true, 1)).toBeNull();
  });

  it('fields: unknown ones are reported; sort keys parse with - for descending', () => {
    expect(neededNames(['params.lr', 'metrics.acc.max', 'tags.x', 'status', 'bogus', 'params.'])).toEqual({
      params: new Set(['lr']),
      metrics: new Set(['acc.max', 'acc']),
      bad: ['bogus', 'params.'],
    });
    expect(parseSort('-metrics.acc, params.lr,+gpus')).toEqual([
      { field: 'metrics.acc', desc: true },
      { field: 'params.lr', desc: false },
      { field: 'gpus', desc: false },
    ]);
  });
});

describe('run names and --set suggestions', () => {
  it('a generated name is adjective-noun-NN, the same for the same id, and valid as a name', () => {
    const ids = Array.from(
      { length: 2000 },
      (_, i) => `01a2${i.toString(16).padStart(4, '0')}-0000-7000-8000-000000000000`,
    );
    const names = ids.map(humanRunName);
    expect(names.every((n) => /^[a-z]+-[a-z]+-\d\d$/.test(n) && validHumanRunName(n))).toBe(true);
    expect(ids.map(humanRunName)).toEqual(names);
    // 640,000 names: 2,000 ids collide rarely (birthday bound ≈ 3).
    expect(new Set(names).size).toBeGreaterThan(1990);
    expect(validHumanRunName('01a24410-a437-7000-952c-4e9254cc5a88')).toBe(false);
    expect(validHumanRunName('has space')).toBe(false);
  });

  it('--set params.x for a param the spec does not define is refused with the closest name', () => {
    const spec = parseRunSpec(
      'name: t\ncommand: echo {params.learning_rate}\nparams:\n  learning_rate: 0.1\n  epochs: 3\n',
      's.yaml',
    );
    expect(applyOverrides(spec, ['params.epochs=5']).params).toEqual({ learning_rate: 0.1, epochs: 5 });
    const refused = (set: string) => {
      try {
        applyOverrides(spec, [set]);
      } catch (e) {
        return e as CairnError;
      }
      throw new Error('accepted');
    };
    const e = refused('params.learning_rte=0.2');
    expect([e.code, e.hint, e.data.suggestion]).toEqual([
      'USAGE',
      "did you mean params.learning_rate? (add new params to the spec's params: first)",
      'learning_rate',
    ]);
    expect(refused('params.batch=32').hint).toBe(
      "the spec's params are learning_rate, epochs; add new ones to its params: first",
    );
    expect(refused('inputs.tarin=x@v1').message).toContain('no input "tarin"');
    expect(closest('EPOCH', ['epochs', 'lr'])).toBe('epochs');
    expect(closest('zzzzzz', ['epochs', 'lr'])).toBeUndefined();
  });
});
