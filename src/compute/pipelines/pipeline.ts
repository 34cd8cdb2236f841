import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import YAML, { isMap, isScalar, type Node } from 'yaml';
import { canonicalJson } from '../../core/canonical-json.js';
import { sha256Hex } from '../../core/digest.js';
import { CairnError } from '../../core/errors.js';
import { parseRunSpec, type RunSpec } from '../run-spec/run-spec.js';

/** One stage of a pipeline: a run spec, the stages whose outputs it reads, and where it came from. */
export interface Stage {
  name: string;
  spec: RunSpec;
  /** Stages whose output versions this one gets as inputs (CAIRN_INPUT_<STAGE>). */
  deps: string[];
  /** Digest of the stage's own text as written, for the run's spec digest. */
  digest: string;
}

export interface Pipeline {
  path: string;
  /** Stages in dependency order (a stage after every stage it depends on; ties by name). */
  stages: Stage[];
}

const STAGE_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

/** The input name a stage's output gets in the stages that depend on it: `prep-data` → `prep_data`. */
export function stageInputName(stage: string): string {
  return stage.replace(/-/g, '_');
}

function fail(path: string, problems: string[]): never {
  throw new CairnError('INVALID_INPUT', `the pipeline ${path} cannot run:\n  ${problems.join('\n  ')}`, {
    data: { problems },
    hint: 'fix the stages: section (docs/PIPELINES.md); nothing was run',
  });
}

/**
 * Reads a pipeline file (`stages:` in cairn.yaml, docs/PIPELINES.md): each stage is a run spec
 * (the keys of docs/COMPUTE.md "Run specs", its name being the stage's) plus `deps` (other
 * stages) and `params_file` (a YAML map of params, overridden by the stage's own `params`).
 * Every problem in every stage is reported at once.
 */
export function readPipeline(file: string): Pipeline {
  const path = resolve(file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new CairnError('NOT_FOUND', `cannot read the pipeline ${path}: ${(err as Error).message}`, {
      hint: 'pass a file with a stages: section, e.g. cairn repro -f cairn.yaml',
    });
  }
  const doc = YAML.parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length)
    fail(
      path,
      doc.errors.map((e) => e.message.split('\n')[0]!),
    );
  const root = doc.contents as Node | null;
  const stagesNode = isMap(root) ? root.get('stages', true) : undefined;
  if (!isMap(stagesNode)) fail(path, ['the file has no stages: map']);
  const problems: string[] = [];
  const stages: Stage[] = [];
  for (const pair of stagesNode.items) {
    const name = isScalar(pair.key) ? String(pair.key.value) : '?';
    if (!STAGE_NAME.test(name)) {
      problems.push(`stage ${JSON.stringify(name)}: names start with a letter and hold letters, digits, _ and -`);
      continue;
    }
    try {
      stages.push(readStage(path, name, pair.value as Node));
    } catch (err) {
      problems.push(`stage ${name}: ${(err as Error).message}`);
    }
  }
  const names = new Set(stages.map((s) => s.name));
  for (const s of stages)
    for (const d of s.deps)
      if (!names.has(d)) problems.push(`stage ${s.name}: deps names no stage ${JSON.stringify(d)}`);
  if (problems.length) fail(path, problems);
  return { path, stages: orderStages(path, stages) };
}

function readStage(path: string, name: string, node: Node): Stage {
  if (!isMap(node)) throw new Error('must be a map of run spec keys');
  const body = node.toJSON() as Record<string, unknown>;
  const deps = body.deps ?? [];
  if (!Array.isArray(deps) || deps.some((d) => typeof d !== 'string'))
    throw new Error('deps must be a list of stage names');
  const paramsFile = body.params_file;
  delete body.deps;
  delete body.params_file;
  if (paramsFile !== undefined) {
    if (typeof paramsFile !== 'string') throw new Error('params_file must be a path');
    const fileParams = YAML.parse(readFileSync(resolve(dirname(path), paramsFile), 'utf8')) as unknown;
    if (!fileParams || typeof fileParams !== 'object' || Array.isArray(fileParams))
      throw new Error(`params_file ${paramsFile} must hold a map of params`);
    body.params = { ...(fileParams as object), ...((body.params as object | undefined) ?? {}) };
  }
  // The stage as a run spec of its own: the same keys, checked by the same reader.
  const specText = YAML.stringify({ name, ...body });
  const spec = parseRunSpec(specText, `${path} (stage ${name})`);
  const declared = new Set(Object.keys(spec.inputs));
  for (const d of deps as string[])
    if (declared.has(stageInputName(d))) throw new Error(`inputs.${stageInputName(d)} is also the input of stage ${d}`);
  return {
    name,
    spec,
    deps: [...new Set(deps as string[])].sort(),
    digest: sha256Hex(canonicalJson({ name, ...body, deps })),
  };
}

/** Kahn's algorithm, smallest name first among the ready: the same order on every machine. A cycle is an error naming it. */
export function orderStages(path: string, stages: Stage[]): Stage[] {
  const by = new Map(stages.map((s) => [s.name, s]));
  const indegree = new Map(stages.map((s) => [s.name, s.deps.length]));
  const ready = stages
    .filter((s) => s.deps.length === 0)
    .map((s) => s.name)
    .sort();
  const out: Stage[] = [];
  while (ready.length) {
    const n = ready.shift()!;
    out.push(by.get(n)!);
    for (const s of stages)
      if (s.deps.includes(n)) {
        indegree.set(s.name, indegree.get(s.name)! - 1);
        if (indegree.get(s.name) === 0) {
          ready.push(s.name);
          ready.sort();
        }
      }
  }
  if (out.length < stages.length) {
    const left = stages.filter((s) => !out.includes(s)).map((s) => s.name);
    fail(path, [`the stages ${left.join(', ')} depend on each other in a cycle`]);
  }
  return out;
}

/** The stages `target` needs (itself and everything upstream), in order; all of them without a target. */
export function stagesFor(p: Pipeline, target?: string): Stage[] {
  if (!target) return p.stages;
  if (!p.stages.some((s) => s.name === target))
    throw new CairnError('NOT_FOUND', `the pipeline has no stage ${JSON.stringify(target)}`, {
      hint: `its stages: ${p.stages.map((s) => s.name).join(', ')}`,
    });
  const want = new Set([target]);
  for (const s of [...p.stages].reverse()) if (want.has(s.name)) for (const d of s.deps) want.add(d);
  return p.stages.filter((s) => want.has(s.name));
}

/** The pipeline as a graph: text (one stage a line with what it needs), Mermaid or Graphviz DOT. */
export function drawDag(p: Pipeline, format: 'text' | 'mermaid' | 'dot'): string {
  const id = (n: string) => n.replace(/-/g, '_');
  if (format === 'mermaid')
    return [
      'flowchart TD',
      ...p.stages.map((s) => `  ${id(s.name)}["${s.name}"]`),
      ...p.stages.flatMap((s) => s.deps.map((d) => `  ${id(d)} --> ${id(s.name)}`)),
      ...p.stages.flatMap((s) =>
        Object.entries(s.spec.inputs).map(([k, ref]) => `  ${id(s.name)}_${k}[("${ref}")] --> ${id(s.name)}`),
      ),
    ].join('\n');
  if (format === 'dot')
    return [
      'digraph pipeline {',
      '  rankdir=TB;',
      ...p.stages.map((s) => `  "${s.name}" [shape=box];`),
      ...p.stages.flatMap((s) => s.deps.map((d) => `  "${d}" -> "${s.name}";`)),
      ...p.stages.flatMap((s) =>
        Object.values(s.spec.inputs).map((ref) => `  "${ref}" [shape=cylinder];\n  "${ref}" -> "${s.name}";`),
      ),
      '}',
    ].join('\n');
  return p.stages
    .map((s) => {
      const from = [...s.deps, ...Object.values(s.spec.inputs)];
      return `${s.name}${from.length ? ` <- ${from.join(', ')}` : ''}`;
    })
    .join('\n');
}
