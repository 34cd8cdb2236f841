import { describe, expect, it } from 'vitest';
import { isCairnError } from '../../core/errors.js';
import { cumulativeRatios, largestRemainder, parseRatios } from './ratios.js';

function usage(text: string): string {
  try {
    parseRatios(text);
  } catch (err) {
    if (isCairnError(err, 'USAGE') && err.hint) return err.message;
    throw err;
  }
  throw new Error(`parseRatios(${text}) succeeded`);
}

describe('parseRatios', () => {
  it('reads name=ratio pairs in order', () => {
    expect(parseRatios('train=0.8,test=0.2')).toEqual([
      { name: 'train', ratio: 0.8 },
      { name: 'test', ratio: 0.2 },
    ]);
    expect(parseRatios(' train = .7 , val=0.15,test=0.15 ')).toEqual([
      { name: 'train', ratio: 0.7 },
      { name: 'val', ratio: 0.15 },
      { name: 'test', ratio: 0.15 },
    ]);
    expect(parseRatios('a=1e-1,b=9e-1').map((r) => r.ratio)).toEqual([0.1, 0.9]);
    // Within 1e-9 of 1 is accepted.
    expect(parseRatios('a=0.3333333333,b=0.3333333333,c=0.3333333334')).toHaveLength(3);
  });

  it('refuses bad input with a USAGE error and a hint', () => {
    expect(usage('train=0.8')).toMatch(/at least two splits/);
    expect(usage('train=0.8,,test=0.2')).toMatch(/at least two splits/);
    expect(usage('train:0.8,test=0.2')).toMatch(/"train:0.8" is not of the form name=ratio/);
    expect(usage('tr/ain=0.8,test=0.2')).toMatch(/"tr\/ain" is not a valid split name/);
    expect(usage('.hidden=0.8,test=0.2')).toMatch(/not a valid split name/);
    expect(usage('a..b=0.8,test=0.2')).toMatch(/not a valid split name/);
    expect(usage('train=0.8,train=0.2')).toMatch(/names the split "train" twice/);
    expect(usage('train=0.8,test=-0.2')).toMatch(/must be a number above 0, not "-0.2"/);
    expect(usage('train=1,test=0')).toMatch(/must be a number above 0, not "0"/);
    expect(usage('train=0.8,test=abc')).toMatch(/not "abc"/);
    expect(usage('train=0.8,test=0x1')).toMatch(/not "0x1"/);
    expect(usage('train=0.8,test=0.3')).toMatch(/sum to 1.1/);
    expect(usage('train=0.8,test=0.19999')).toMatch(/sum to 0.99999, not 1/);
  });
});

describe('largestRemainder', () => {
  it('apportions exactly, each count within one of n·r', () => {
    const r = parseRatios('a=0.8,b=0.1,c=0.1');
    expect(largestRemainder(10, r)).toEqual([8, 1, 1]);
    // 5.6, 0.7, 0.7: the two remainders of 0.7 beat 0.6.
    expect(largestRemainder(7, r)).toEqual([5, 1, 1]);
    expect(largestRemainder(1, r)).toEqual([1, 0, 0]);
    expect(largestRemainder(0, r)).toEqual([0, 0, 0]);
    const thirds = parseRatios('a=0.3333333333,b=0.3333333333,c=0.3333333334');
    // c has the largest remainder; a beats b on the tie by coming first.
    expect(largestRemainder(2, thirds)).toEqual([1, 0, 1]);
    for (let n = 0; n < 500; n++) {
      const c = largestRemainder(n, r);
      expect(c.reduce((a, b) => a + b, 0)).toBe(n);
      c.forEach((x, i) => expect(Math.abs(x - n * r[i]!.ratio)).toBeLessThan(1));
    }
  });

  it('cumulative ratios end at infinity so the last split takes the rest', () => {
    expect(cumulativeRatios(parseRatios('a=0.7,b=0.2,c=0.1'))).toEqual([0.7, 0.7 + 0.2, Infinity]);
  });
});
