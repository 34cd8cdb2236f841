import { describe, expect, it } from 'vitest';
import { isCairnError } from '../../core/errors.js';
import { H, sampleFacts } from './fixtures.case.js';
import {
  buildStatement,
  CAIRN_RUN_BUILD_TYPE,
  parseStatement,
  SLSA_PROVENANCE_V1,
  STATEMENT_TYPE,
} from './statement.js';

function refusal(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return null;
}

describe('buildStatement', () => {
  it('writes an in-toto v1 statement with SLSA v1 provenance of the run', () => {
    const s = buildStatement(sampleFacts());
    expect(s._type).toBe(STATEMENT_TYPE);
    expect(s.predicateType).toBe(SLSA_PROVENANCE_V1);
    expect(s.subject).toEqual([
      { name: 'config/tokenizer.json', digest: { sha256: H('b') } },
      { name: 'weights.safetensors', digest: { sha256: H('a') } },
    ]);
    const b = s.predicate.buildDefinition;
    expect(b.buildType).toBe(CAIRN_RUN_BUILD_TYPE);
    expect(b.externalParameters).toEqual({
      name: 'train-churn',
      project: 'retention',
      command: 'python train.py --lr {params.lr}',
      params: { epochs: 3, flag: true, lr: 0.01, none: null, tag: 'x' },
      inputs: { eval: 'cairn:dataset/flights/eval@v2', train: 'cairn:dataset/flights/train@v4' },
    });
    expect(b.internalParameters).toEqual({
      backend: 'slurm',
      resources: { cpus: 8, gpus: 1, memoryMb: 32000, timeLimitS: 3600 },
    });
    expect(b.resolvedDependencies).toEqual([
      { name: 'input:eval', uri: 'cairn:dataset/flights/eval@v2', digest: { sha256: H('d') } },
      { name: 'input:train', uri: 'cairn:dataset/flights/train@v4', digest: { sha256: H('c') } },
      {
        name: 'code',
        uri: 'git+https://git.example.com/ml/churn',
        digest: { gitCommit: '0123456789abcdef0123456789abcdef01234567' },
      },
      { name: 'code:uncommitted', digest: { sha256: H('e') }, annotations: expect.any(Object) },
      { name: 'environment:image', uri: `docker://ghcr.io/acme/train@sha256:${H('f')}`, digest: { sha256: H('f') } },
      { name: 'environment:lockfile', digest: { sha256: H('1') }, annotations: { path: 'uv.lock' } },
    ]);
    expect(s.predicate.runDetails).toEqual({
      builder: { id: 'https://cairn.example.com/ws/acme', version: { cairn: '0.1.0' } },
      metadata: {
        invocationId: 'run_01J0000000000000000000000',
        startedOn: '2025-03-01T10:00:00Z',
        finishedOn: '2025-03-01T11:30:00.000Z',
      },
    });
  });

  it('is pure and deterministic: same facts in another order, same statement', () => {
    const f = sampleFacts();
    const g = sampleFacts({ files: [...f.files].reverse(), inputs: [...f.inputs].reverse() });
    expect(JSON.stringify(buildStatement(g))).toBe(JSON.stringify(buildStatement(f)));
    expect(f.files[1]!.sha256).toBe(`sha256:${H('b')}`); // input untouched
  });

  it('describes code outside git by its tree digest, and an image without digest by its reference', () => {
    const s = buildStatement(
      sampleFacts({ code: { commit: null, dirty: H('2') }, environment: { image: { ref: 'python:3.12' } } }),
    );
    const deps = s.predicate.buildDefinition.resolvedDependencies;
    expect(deps.find((d) => d.name === 'code:tree')?.digest).toEqual({ sha256: H('2') });
    expect(deps.find((d) => d.name === 'code')).toBeUndefined();
    expect(deps.find((d) => d.name === 'environment:image')).toEqual({
      name: 'environment:image',
      uri: 'docker://python:3.12',
    });
  });

  it('refuses unsafe or repeated file paths, bad digests, timestamps and commits', () => {
    const f = sampleFacts();
    expect(
      isCairnError(
        refusal(() => buildStatement({ ...f, files: [{ path: '../x', sha256: H('a') }] })),
        'PATH_UNSAFE',
      ),
    ).toBe(true);
    expect(
      isCairnError(
        refusal(() => buildStatement({ ...f, files: [{ path: '/etc/passwd', sha256: H('a') }] })),
        'PATH_UNSAFE',
      ),
    ).toBe(true);
    expect(
      isCairnError(
        refusal(() =>
          buildStatement({
            ...f,
            files: [
              { path: 'a', sha256: H('a') },
              { path: 'a', sha256: H('a') },
            ],
          }),
        ),
        'INVALID_INPUT',
      ),
    ).toBe(true);
    expect(
      isCairnError(
        refusal(() => buildStatement({ ...f, files: [{ path: 'a', sha256: 'abc' }] })),
        'INVALID_INPUT',
      ),
    ).toBe(true);
    expect(
      isCairnError(
        refusal(() => buildStatement({ ...f, files: [] })),
        'INVALID_INPUT',
      ),
    ).toBe(true);
    expect(
      isCairnError(
        refusal(() => buildStatement({ ...f, run: { ...f.run, startedOn: 'yesterday' } })),
        'INVALID_INPUT',
      ),
    ).toBe(true);
    expect(
      isCairnError(
        refusal(() => buildStatement({ ...f, code: { commit: 'HEAD', dirty: null } })),
        'INVALID_INPUT',
      ),
    ).toBe(true);
    expect(
      isCairnError(
        refusal(() => buildStatement({ ...f, code: { commit: null, dirty: null } })),
        'INVALID_INPUT',
      ),
    ).toBe(true);
    expect(
      isCairnError(
        refusal(() => buildStatement({ ...f, inputs: [{ name: 'x', dataset: '../d', version: 1, sha256: H('a') }] })),
        'INVALID_NAME',
      ),
    ).toBe(true);
  });

  it('parseStatement reads back what buildStatement wrote and refuses other types', () => {
    const s = buildStatement(sampleFacts());
    expect(parseStatement(Buffer.from(JSON.stringify(s)))).toEqual(s);
    expect(
      isCairnError(
        refusal(() => parseStatement(Buffer.from(JSON.stringify({ ...s, predicateType: 'https://example.com/x' })))),
        'INVALID_INPUT',
      ),
    ).toBe(true);
    expect(
      isCairnError(
        refusal(() =>
          parseStatement(Buffer.from(JSON.stringify({ ...s, subject: [{ name: 'x', digest: { sha1: 'ab' } }] }))),
        ),
        'INVALID_INPUT',
      ),
    ).toBe(true);
    expect(
      isCairnError(
        refusal(() => parseStatement(Buffer.from('not json'))),
        'INVALID_INPUT',
      ),
    ).toBe(true);
  });
});
