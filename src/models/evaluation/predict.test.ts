import { describe, expect, it } from 'vitest';
import { useTempDirs } from '../../test-support/temp.js';
import { commandPredictor, parseScore } from './predict.js';

describe('command predictors', () => {
  const tmp = useTempDirs();
  const rows = (n: number) => new Float32Array(n).fill(0.5);

  it('reads {"score": x} or bare numbers, one line per row', async () => {
    const p = commandPredictor(`while read -r l; do echo '{"score": 0.25}'; echo 0.75; done | head -n 2`, tmp());
    expect(Array.from(await p.predict(rows(2), 2, 1))).toEqual([0.25, 0.75]);
    expect([
      parseScore('1e-3'),
      parseScore('{"score": 2}'),
      parseScore('"0.5"'),
      parseScore('{"score": "0.5"}'),
      parseScore('[1]'),
      parseScore('null'),
      parseScore('NaN'),
      parseScore('loading…'),
    ]).toEqual([0.001, 2, null, null, null, null, null, null]);
  });

  it('a line that is not a score is a clear INVALID_INPUT naming the line, not a crash', async () => {
    const p = commandPredictor('echo "Using CPU"; cat >/dev/null; echo 1', tmp());
    await expect(p.predict(rows(1), 1, 1)).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      message:
        'the predictor command "echo \\"Using CPU\\"; cat >/dev/null; echo 1" printed a line that is not a score (line 1 of its output): "Using CPU"',
      data: { line: 1 },
    });
    // A long line is cut in the message.
    const long = commandPredictor(`printf '%0.s-' $(seq 1 5000); echo`, tmp());
    const err = (await long.predict(rows(1), 1, 1).catch((e: Error) => e)) as Error;
    expect(err.message.length).toBeLessThan(600);
    expect(err.message).toMatch(/… \(4800 more characters\)"$/);
    // Too many answers, too few, a failing command: each said in words.
    await expect(commandPredictor('echo 1; echo 2', tmp()).predict(rows(1), 1, 1)).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      message: expect.stringMatching(/printed more scores than the 1 rows/),
    });
    await expect(commandPredictor('cat >/dev/null; echo 1', tmp()).predict(rows(2), 2, 1)).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      message: 'the predictor command answered 1 of 2 rows',
    });
    await expect(commandPredictor('echo broken >&2; exit 3', tmp()).predict(rows(1), 1, 1)).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      message: 'the predictor command exited with 3: broken',
    });
  });
});
