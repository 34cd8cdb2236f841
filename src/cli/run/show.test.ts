import { describe, expect, it } from 'vitest';
import { describeReason } from './show.js';

describe('run show / run why: reasons in words', () => {
  it('an idle-policy stop names the policy and the samples that triggered it', () => {
    const samples = Array.from({ length: 12 }, (_, t) => ({ t, util: [t % 2, 0] }));
    expect(
      describeReason(
        {
          code: 'IDLE_STOP',
          message: 'the idle-GPU policy stopped the run: GPUs 0,1 under 5% for 10 s',
          policy: { thresholdPct: 5, windowS: 10, action: 'stop' },
          samples,
        },
        '  ',
      ),
    ).toEqual([
      'IDLE_STOP: the idle-GPU policy stopped the run: GPUs 0,1 under 5% for 10 s',
      '  policy: under 5% for 10 s → stop',
      '  samples: … 2 more, 2s 0%/0%, 3s 1%/0%, 4s 0%/0%, 5s 1%/0%, 6s 0%/0%, 7s 1%/0%, 8s 0%/0%, 9s 1%/0%, 10s 0%/0%, 11s 1%/0%',
    ]);
    expect(describeReason({ code: 'EXIT', message: 'exited with status 3' })).toEqual(['EXIT: exited with status 3']);
  });
});
