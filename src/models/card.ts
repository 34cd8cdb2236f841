/** A model card (Markdown + JSON), generated from recorded facts plus what a person wrote. */
export interface ModelCard {
  format: 'cairn.model-card/v1';
  model: { name: string; version: number; digest: string; format: string };
  files: Array<{ path: string; size: number; sha256: string }>;
  signature: { inputs: unknown[]; outputs: unknown[] } | null;
  training: {
    run: {
      id: string;
      name: string;
      codeCommit: string | null;
      codeDirty: string | null;
      params: Record<string, unknown>;
      startedAt: string | null;
      endedAt: string | null;
    } | null;
    data: Array<{ name: string; ref: string; digest: string }>;
  };
  metrics: Record<string, number>;
  /** Filled by `cairn model evaluate`; empty until then. */
  evaluations: Array<{ suite: string; passed: boolean; data: string | null; at: string }>;
  /** What a person wrote (intended use, slices, limitations), or a template to fill. */
  intendedUse: string;
  registered: { by: string; at: string };
}

export const CARD_TEMPLATE = `## Intended use
(Who uses this model, for what decisions, and what it must never be used for.)

## Slices and fairness
(Which groups it was checked on, and how.)

## Limitations
(Known failure modes, data it was not trained on, drift to watch for.)
`;

export function buildCard(f: {
  name: string;
  version: number;
  digest: string;
  format: string;
  files: ModelCard['files'];
  signature: ModelCard['signature'];
  run: ModelCard['training']['run'];
  trainingData: ModelCard['training']['data'];
  metrics: Record<string, number>;
  intendedUse: string | null;
  registeredBy: string;
  registeredAt: string;
}): ModelCard {
  return {
    format: 'cairn.model-card/v1',
    model: { name: f.name, version: f.version, digest: `sha256:${f.digest}`, format: f.format },
    files: f.files,
    signature: f.signature,
    training: { run: f.run, data: f.trainingData },
    metrics: f.metrics,
    evaluations: [],
    intendedUse: f.intendedUse ?? CARD_TEMPLATE,
    registered: { by: f.registeredBy, at: f.registeredAt },
  };
}

export function cardMarkdown(c: ModelCard): string {
  const lines = [
    `# Model card: ${c.model.name} v${c.model.version}`,
    '',
    `- Digest: \`${c.model.digest}\``,
    `- Format: ${c.model.format}`,
    `- Registered by ${c.registered.by} at ${c.registered.at}`,
    '',
    '## Training',
    c.training.run
      ? `Run \`${c.training.run.id}\` (${c.training.run.name}), code ${c.training.run.codeCommit ?? 'outside git'}${c.training.run.codeDirty ? ' with uncommitted changes' : ''}, ${c.training.run.startedAt ?? '?'} → ${c.training.run.endedAt ?? '?'}.`
      : 'Registered from files, not from a recorded run.',
    '',
    ...(c.training.run && Object.keys(c.training.run.params).length
      ? [
          '| param | value |',
          '|---|---|',
          ...Object.entries(c.training.run.params).map(([k, v]) => `| ${k} | ${JSON.stringify(v)} |`),
          '',
        ]
      : []),
    '## Training data',
    ...(c.training.data.length
      ? c.training.data.map((d) => `- ${d.name}: ${d.ref} (\`${d.digest}\`)`)
      : ['(none recorded)']),
    '',
    '## Metrics (last logged value)',
    ...(Object.keys(c.metrics).length
      ? ['| metric | value |', '|---|---|', ...Object.entries(c.metrics).map(([k, v]) => `| ${k} | ${v} |`)]
      : ['(none logged)']),
    '',
    '## Evaluations',
    ...(c.evaluations.length
      ? c.evaluations.map((e) => `- ${e.suite}: ${e.passed ? 'passed' : 'FAILED'} (${e.data ?? 'no data'}, ${e.at})`)
      : ['(none yet: cairn model evaluate)']),
    '',
    '## Signature',
    c.signature
      ? `Inputs: ${JSON.stringify(c.signature.inputs)}\n\nOutputs: ${JSON.stringify(c.signature.outputs)}`
      : '(none declared)',
    '',
    c.intendedUse.trim(),
    '',
    '## Files',
    ...c.files.map((f) => `- \`${f.path}\` ${f.size} bytes, sha256 \`${f.sha256}\``),
    '',
  ];
  return lines.join('\n');
}
