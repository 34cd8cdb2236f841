import { describe, expect, it } from 'vitest';
import { linearOnnx } from './linear.js';

describe('linearOnnx', () => {
  it('ONNX Runtime loads the file and computes sigmoid(X·W + b) and X·W + b', async () => {
    const ort = await import('onnxruntime-node');
    const w = [0.5, -1, 2];
    const x = new Float32Array([1, 2, 3, 0, 0, 0]);
    const cls = await ort.InferenceSession.create(linearOnnx({ weights: w, bias: 0.25, output: 'probability' }));
    expect([cls.inputNames, cls.outputNames]).toEqual([['features'], ['probability']]);
    const out = await cls.run({ features: new ort.Tensor('float32', x, [2, 3]) });
    const p = Array.from(out.probability!.data as Float32Array);
    const sig = (z: number) => 1 / (1 + Math.exp(-z));
    expect(p[0]).toBeCloseTo(sig(0.5 - 2 + 6 + 0.25), 6);
    expect(p[1]).toBeCloseTo(sig(0.25), 6);
    const reg = await ort.InferenceSession.create(linearOnnx({ weights: w, bias: -1, output: 'value' }));
    const v = await reg.run({ features: new ort.Tensor('float32', x, [2, 3]) });
    expect(Array.from(v.value!.data as Float32Array)).toEqual([3.5, -1]);
  });
});
