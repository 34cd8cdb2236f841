import { describe, expect, it } from 'vitest';
import { useTempDirs } from '../../test-support/temp.js';
import { persistentCommandPredictor } from './persistent-predictor.js';

const tmp = useTempDirs();
const rows = (n: number, cols = 2) => Float32Array.from({ length: n * cols }, (_, i) => i % 7);

// A trivial model in Node: score = sum of features; prints its pid on stderr once.
const SUM = `node -e 'process.stderr.write(String(process.pid)); const rl = require("readline").createInterface({ input: process.stdin }); rl.on("line", (l) => process.stdout.write(JSON.stringify({ score: JSON.parse(l).features.reduce((a, b) => a + b, 0) }) + "\\n"));'`;

describe('persistent command predictor', () => {
  it('starts the command once and answers every batch in order, one row or many', async () => {
    const p = persistentCommandPredictor(`echo started >&2; echo x >> starts.log; ${SUM}`, tmp());
    const x = rows(1000);
    const a = await p.predict(x, 1000, 2);
    expect(Array.from(a.subarray(0, 4))).toEqual([1, 5, 9, 6]);
    for (let i = 0; i < 20; i++) {
      const one = await p.predict(Float32Array.from([i, 1]), 1, 2);
      expect(one[0]).toBe(i + 1);
    }
    expect(Array.from(await p.predict(x, 1000, 2))).toEqual(Array.from(a));
    await p.close();
  });

  it('runs one process for all batches (counted by the command itself)', async () => {
    const dir = tmp();
    const p = persistentCommandPredictor(`echo x >> starts.log; ${SUM}`, dir);
    for (let i = 0; i < 5; i++) await p.predict(rows(3), 3, 2);
    await p.close();
    const { readFileSync } = await import('node:fs');
    expect(readFileSync(`${dir}/starts.log`, 'utf8')).toBe('x\n');
  });

  it('refuses a line that is not a score, an exit mid-batch and silence, in words', async () => {
    const bad = persistentCommandPredictor(`read l; echo "loading model"`, tmp());
    await expect(bad.predict(rows(1), 1, 2)).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      message: expect.stringMatching(/not a score \(line 1 of its output\): "loading model"/),
    });
    const dies = persistentCommandPredictor(`read l; echo 1; echo oops >&2; exit 4`, tmp());
    await expect(dies.predict(rows(3), 3, 2)).rejects.toMatchObject({
      message: expect.stringMatching(/exited with 4 after 1 of 3 rows: oops/),
    });
    const silent = persistentCommandPredictor(`cat > /dev/null`, tmp(), 300);
    await expect(silent.predict(rows(2), 2, 2)).rejects.toMatchObject({
      message: expect.stringMatching(/no answer for 0.3 s/),
    });
    await silent.close();
  });
});
