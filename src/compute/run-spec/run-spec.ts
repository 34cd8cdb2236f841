import { isMap, isScalar, isSeq, type Node, type Pair } from 'yaml';
import { CairnError } from '../../core/errors.js';
import { SpecReader, type FieldSpec } from '../../core/yaml-doc.js';

/** A run spec (`cairn.yaml`), docs/COMPUTE.md "Run specs". */
export interface RunSpec {
  name: string;
  project: string;
  /** Shell command; `{params.x}` is replaced by the param's value. */
  command: string;
  /** Folder holding the code, relative to the spec's folder (default: the spec's folder). */
  code: string;
  /** `code: [src/, train.py]`: only these paths (under the spec's folder) are the run's code. */
  codePaths?: string[];
  /** Input name → dataset ref; each becomes CAIRN_INPUT_<NAME> in the job. */
  inputs: Record<string, string>;
  params: Record<string, string | number | boolean | null>;
  environment: { image?: string; lockfile?: string; vars: Record<string, string> };
  resources: { gpus: number; cpus: number; memoryMb: number; timeLimitS: number };
  /** Paths under CAIRN_OUTPUT_DIR to keep as the run's output version (default: all of it). */
  outputs: string[];
  backend: 'local' | 'slurm';
  slurm: { account?: string; partition?: string; qos?: string };
  priority: number;
  /** SIGTERM → SIGKILL window at cancel, preemption or the time limit. */
  graceS: number;
  requeue: boolean;
  idle: { thresholdPct: number; windowS: number; action: 'flag' | 'checkpoint' | 'stop' };
}

const TOP = [
  'name',
  'project',
  'command',
  'code',
  'inputs',
  'params',
  'environment',
  'resources',
  'outputs',
  'backend',
  'slurm',
  'priority',
  'checkpoint',
  'requeue',
  'idle',
] as const;

const SECTIONS: Record<string, Record<string, FieldSpec>> = {
  environment: { image: { type: 'string' }, lockfile: { type: 'string' }, vars: { type: 'map<scalar>' } },
  resources: {
    gpus: { type: 'integer' },
    cpus: { type: 'integer' },
    memory: { type: 'size' },
    time: { type: 'duration' },
  },
  slurm: { account: { type: 'string' }, partition: { type: 'string' }, qos: { type: 'string' } },
  checkpoint: { grace: { type: 'duration' } },
  idle: {
    threshold: { type: 'number' },
    window: { type: 'duration' },
    action: { type: 'string', oneOf: ['flag', 'checkpoint', 'stop'] },
  },
};

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/** Typed reads of the spec's top-level keys; problems are collected in the reader, in order. */
function topReader(r: SpecReader, top: Map<string, Pair>, fileName: string) {
  return {
    pair: (key: string) => top.get(key),
    str(key: string, required: boolean): string | undefined {
      const p = top.get(key);
      if (!p) {
        if (required) r.errors.push(`${fileName}:1: ${JSON.stringify(key)} is required`);
        return undefined;
      }
      return r.value(p, p.value as Node, { type: 'string' }, key) as string | undefined;
    },
    section(key: string): Record<string, unknown> {
      const p = top.get(key);
      return p ? (r.fields(p, p.value as Node, SECTIONS[key]!, key) ?? {}) : {};
    },
    typed<T>(key: string, spec: FieldSpec, def: T): T {
      const p = top.get(key);
      return p ? ((r.value(p, p.value as Node, spec, key) as T | undefined) ?? def) : def;
    },
  };
}
type TopReader = ReturnType<typeof topReader>;

/** name, project, command, code, inputs and params, checked in that order. */
function readHead(r: SpecReader, t: TopReader) {
  const name = t.str('name', true) ?? '';
  if (name && !NAME.test(name))
    r.error(t.pair('name'), `name ${JSON.stringify(name)} may hold letters, digits, ".", "_" and "-" only`);
  const project = t.str('project', false) ?? 'default';
  if (!NAME.test(project))
    r.error(t.pair('project'), `project ${JSON.stringify(project)} may hold letters, digits, ".", "_" and "-" only`);
  const command = t.str('command', true) ?? '';
  const codePair = t.pair('code');
  const codePaths =
    codePair && isSeq(codePair.value)
      ? (r.value(codePair, codePair.value as Node, { type: 'string[]' }, 'code') as string[] | undefined)
      : undefined;
  const code = codePaths ? '.' : (t.str('code', false) ?? '.');
  for (const p of codePaths ?? [])
    if (p.startsWith('/') || p.split('/').includes('..'))
      r.error(codePair, `code path ${JSON.stringify(p)} must be inside the spec's folder`);
  const inputs = mapOf(r, t.pair('inputs'), 'inputs', (v) => typeof v === 'string', 'a dataset ref') as Record<
    string,
    string
  >;
  for (const k of Object.keys(inputs))
    if (!/^[A-Za-z][A-Za-z0-9_]{0,63}$/.test(k))
      r.error(
        t.pair('inputs'),
        `input name ${JSON.stringify(k)} must start with a letter and hold letters, digits and _ only`,
      );
  const params = mapOf(
    r,
    t.pair('params'),
    'params',
    (v) => v === null || ['string', 'number', 'boolean'].includes(typeof v),
    'a number, text, true/false or null',
  ) as RunSpec['params'];
  return { name, project, command, code, ...(codePaths ? { codePaths: [...codePaths].sort() } : {}), inputs, params };
}

/** outputs, backend, priority and requeue. */
function readTail(r: SpecReader, t: TopReader) {
  const outputs = t.typed<string[]>('outputs', { type: 'string[]' }, []);
  for (const o of outputs)
    if (o.startsWith('/') || o.split('/').includes('..'))
      r.error(t.pair('outputs'), `output ${JSON.stringify(o)} must be a path inside CAIRN_OUTPUT_DIR`);
  const backendPair = t.pair('backend');
  const backend = (
    backendPair
      ? r.value(backendPair, backendPair.value as Node, { type: 'string', oneOf: ['local', 'slurm'] }, 'backend')
      : 'local'
  ) as RunSpec['backend'];
  const priority = t.typed('priority', { type: 'integer' }, 0);
  const requeue = t.typed('requeue', { type: 'boolean' }, true);
  return { outputs, backend, priority, requeue };
}

interface Sections {
  env: Record<string, unknown>;
  res: Record<string, unknown>;
  slurm: Record<string, unknown>;
  ckpt: Record<string, unknown>;
  idle: Record<string, unknown>;
}

/** Ranges of resources and names of environment variables. */
function checkLimits(r: SpecReader, t: TopReader, sec: Sections): void {
  const gpus = (sec.res.gpus as number | undefined) ?? 0;
  const cpus = (sec.res.cpus as number | undefined) ?? 1;
  if (gpus < 0 || gpus > 1024) r.error(t.pair('resources'), 'resources.gpus must be from 0 to 1024');
  if (cpus < 1 || cpus > 4096) r.error(t.pair('resources'), 'resources.cpus must be from 1 to 4096');
  for (const k of Object.keys((sec.env.vars as object | undefined) ?? {}))
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k) || k.startsWith('CAIRN_'))
      r.error(
        t.pair('environment'),
        `environment variable ${JSON.stringify(k)} is not a valid name (or is reserved: CAIRN_*)`,
      );
}

/**
 * Parses a run spec, reporting every problem at once with its line — unknown keys included —
 * before anything is resolved or submitted.
 */
export function parseRunSpec(text: string, fileName: string): RunSpec {
  const r = new SpecReader(text, fileName);
  const t = topReader(r, r.top(TOP), fileName);
  const head = readHead(r, t);
  const sec: Sections = {
    env: t.section('environment'),
    res: t.section('resources'),
    slurm: t.section('slurm'),
    ckpt: t.section('checkpoint'),
    idle: t.section('idle'),
  };
  const tail = readTail(r, t);
  checkLimits(r, t, sec);
  r.done('run spec');
  return assembleSpec(head, tail, sec);
}

/** The spec with its defaults and units applied (bytes to MiB, milliseconds to seconds). */
function assembleSpec(
  head: ReturnType<typeof readHead>,
  tail: ReturnType<typeof readTail>,
  { env, res, slurm, ckpt, idle }: Sections,
): RunSpec {
  const vars = (env.vars as Record<string, string | number | boolean | null> | undefined) ?? {};
  return {
    ...head,
    environment: {
      ...(env.image ? { image: env.image as string } : {}),
      ...(env.lockfile ? { lockfile: env.lockfile as string } : {}),
      vars: Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, v === null ? '' : String(v)])),
    },
    resources: {
      gpus: (res.gpus as number | undefined) ?? 0,
      cpus: (res.cpus as number | undefined) ?? 1,
      memoryMb: Math.ceil(((res.memory as number | undefined) ?? 0) / (1024 * 1024)),
      timeLimitS: Math.ceil(((res.time as number | undefined) ?? 0) / 1000),
    },
    outputs: tail.outputs,
    backend: tail.backend,
    slurm: slurm as RunSpec['slurm'],
    priority: tail.priority,
    graceS: Math.ceil(((ckpt.grace as number | undefined) ?? 30_000) / 1000),
    requeue: tail.requeue,
    idle: {
      thresholdPct: (idle.threshold as number | undefined) ?? 5,
      windowS: Math.ceil(((idle.window as number | undefined) ?? 600_000) / 1000),
      action: (idle.action as RunSpec['idle']['action'] | undefined) ?? 'flag',
    },
  };
}

function mapOf(
  r: SpecReader,
  pair: Pair | undefined,
  context: string,
  ok: (v: unknown) => boolean,
  want: string,
): Record<string, unknown> {
  if (!pair) return {};
  const node = pair.value as Node;
  if (node === null || (isScalar(node) && node.value === null)) return {};
  if (!isMap(node)) {
    r.error(pair, `${context} must be a map`);
    return {};
  }
  const out: Record<string, unknown> = {};
  for (const p of node.items) {
    const key = isScalar(p.key) ? String(p.key.value) : '?';
    const v = p.value && 'toJSON' in (p.value as object) ? (p.value as { toJSON(): unknown }).toJSON() : null;
    if (!ok(v)) r.error(p, `${context}.${key} must be ${want}`);
    else out[key] = v;
  }
  return out;
}

/**
 * Applies `--set key=value` overrides: `params.lr=0.1`, `resources.gpus=2`, `backend=slurm`,
 * `inputs.train=mail/train@v2`, `priority=5`. Values are read as YAML scalars (0.1 is a
 * number, true a boolean). Unknown keys are errors, as in the file.
 */
export function applyOverrides(spec: RunSpec, sets: readonly string[]): RunSpec {
  const out: RunSpec = structuredClone(spec);
  for (const s of sets) {
    const eq = s.indexOf('=');
    if (eq < 1) throw new CairnError('USAGE', `--set takes key=value, not ${JSON.stringify(s)}`);
    const key = s.slice(0, eq);
    const raw = s.slice(eq + 1);
    const v = scalar(raw);
    const [head, sub, ...rest] = key.split('.');
    const bad = () =>
      new CairnError('USAGE', `--set: unknown key ${JSON.stringify(key)}`, {
        hint: 'use params.<name>, inputs.<name>, resources.gpus|cpus, backend, priority, project, command',
      });
    if (rest.length) throw bad();
    if (head === 'params' && sub) {
      if (!(sub in spec.params)) throw unknownParam(sub, Object.keys(spec.params));
      out.params[sub] = v as string | number | boolean | null;
    } else if (head === 'inputs' && sub && !(sub in spec.inputs)) throw unknownInput(sub, Object.keys(spec.inputs));
    else if (head === 'inputs' && sub) out.inputs[sub] = raw;
    else if (head === 'resources' && (sub === 'gpus' || sub === 'cpus')) {
      if (!Number.isInteger(v) || (v as number) < (sub === 'cpus' ? 1 : 0))
        throw new CairnError('USAGE', `--set ${key} needs a whole number`);
      out.resources[sub] = v as number;
    } else if (head === 'backend' && !sub) {
      if (raw !== 'local' && raw !== 'slurm') throw new CairnError('USAGE', '--set backend=local|slurm');
      out.backend = raw;
    } else if (head === 'priority' && !sub && Number.isInteger(v)) out.priority = v as number;
    else if ((head === 'project' || head === 'command' || head === 'name') && !sub) out[head] = raw;
    else throw bad();
  }
  return out;
}

/** `--set params.lr=…` for a param the spec does not define: a typo more often than a new param. */
function unknownParam(name: string, known: string[]): CairnError {
  const close = closest(name, known);
  return new CairnError('USAGE', `--set params.${name}: the spec defines no param ${JSON.stringify(name)}`, {
    hint: close
      ? `did you mean params.${close}? (add new params to the spec's params: first)`
      : known.length
        ? `the spec's params are ${known.join(', ')}; add new ones to its params: first`
        : 'the spec has no params: add them to its params: first',
    data: { param: name, known, ...(close ? { suggestion: close } : {}) },
  });
}

function unknownInput(name: string, known: string[]): CairnError {
  const close = closest(name, known);
  return new CairnError('USAGE', `--set inputs.${name}: the spec defines no input ${JSON.stringify(name)}`, {
    hint: close ? `did you mean inputs.${close}?` : `the spec's inputs are ${known.join(', ') || '(none)'}`,
    data: { input: name, known, ...(close ? { suggestion: close } : {}) },
  });
}

/** The known name within a third of its length in edits (at least 2) of `name`, case-insensitively, else undefined. */
export function closest(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = editDistance(name.toLowerCase(), k.toLowerCase());
    if (d < bestD) [best, bestD] = [k, d];
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(best.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++)
      cur[j] = Math.min(prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1), prev[j]! + 1, cur[j - 1]! + 1);
    prev = cur;
  }
  return prev[b.length]!;
}

function scalar(raw: string): unknown {
  if (raw === 'true' || raw === 'false') return raw === 'true';
  if (raw === 'null') return null;
  if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(raw)) return Number(raw);
  return raw;
}

// Params reach the shell quoted for where they stand (render-command.ts).
export { renderCommand } from './render-command.js';
