import { isMap, isScalar, type Node, type Pair } from 'yaml';
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

/**
 * Parses a run spec, reporting every problem at once with its line — unknown keys included —
 * before anything is resolved or submitted.
 */
export function parseRunSpec(text: string, fileName: string): RunSpec {
  const r = new SpecReader(text, fileName);
  const top = r.top(TOP);
  const str = (key: string, required: boolean): string | undefined => {
    const p = top.get(key);
    if (!p) {
      if (required) r.errors.push(`${fileName}:1: ${JSON.stringify(key)} is required`);
      return undefined;
    }
    return r.value(p, p.value as Node, { type: 'string' }, key) as string | undefined;
  };
  const section = (key: string): Record<string, unknown> => {
    const p = top.get(key);
    return p ? (r.fields(p, p.value as Node, SECTIONS[key]!, key) ?? {}) : {};
  };
  const name = str('name', true) ?? '';
  if (name && !/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(name))
    r.error(top.get('name'), `name ${JSON.stringify(name)} may hold letters, digits, ".", "_" and "-" only`);
  const project = str('project', false) ?? 'default';
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(project))
    r.error(top.get('project'), `project ${JSON.stringify(project)} may hold letters, digits, ".", "_" and "-" only`);
  const command = str('command', true) ?? '';
  const code = str('code', false) ?? '.';
  const inputs = mapOf(r, top.get('inputs'), 'inputs', (v) => typeof v === 'string', 'a dataset ref') as Record<
    string,
    string
  >;
  for (const k of Object.keys(inputs))
    if (!/^[A-Za-z][A-Za-z0-9_]{0,63}$/.test(k))
      r.error(
        top.get('inputs'),
        `input name ${JSON.stringify(k)} must start with a letter and hold letters, digits and _ only`,
      );
  const params = mapOf(
    r,
    top.get('params'),
    'params',
    (v) => v === null || ['string', 'number', 'boolean'].includes(typeof v),
    'a number, text, true/false or null',
  ) as RunSpec['params'];
  const env = section('environment');
  const res = section('resources');
  const slurm = section('slurm');
  const ckpt = section('checkpoint');
  const idle = section('idle');
  let outputs: string[] = [];
  const outPair = top.get('outputs');
  if (outPair)
    outputs = (r.value(outPair, outPair.value as Node, { type: 'string[]' }, 'outputs') as string[] | undefined) ?? [];
  for (const o of outputs)
    if (o.startsWith('/') || o.split('/').includes('..'))
      r.error(outPair, `output ${JSON.stringify(o)} must be a path inside CAIRN_OUTPUT_DIR`);
  const backendPair = top.get('backend');
  const backend = (
    backendPair
      ? r.value(backendPair, backendPair.value as Node, { type: 'string', oneOf: ['local', 'slurm'] }, 'backend')
      : 'local'
  ) as RunSpec['backend'];
  const intOf = (key: string, def: number): number => {
    const p = top.get(key);
    return p ? ((r.value(p, p.value as Node, { type: 'integer' }, key) as number | undefined) ?? def) : def;
  };
  const priority = intOf('priority', 0);
  const reqPair = top.get('requeue');
  const requeue = reqPair
    ? ((r.value(reqPair, reqPair.value as Node, { type: 'boolean' }, 'requeue') as boolean | undefined) ?? true)
    : true;
  const gpus = (res.gpus as number | undefined) ?? 0;
  const cpus = (res.cpus as number | undefined) ?? 1;
  if (gpus < 0 || gpus > 1024) r.error(top.get('resources'), 'resources.gpus must be from 0 to 1024');
  if (cpus < 1 || cpus > 4096) r.error(top.get('resources'), 'resources.cpus must be from 1 to 4096');
  const vars = (env.vars as Record<string, string | number | boolean | null> | undefined) ?? {};
  for (const k of Object.keys(vars))
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k) || k.startsWith('CAIRN_'))
      r.error(
        top.get('environment'),
        `environment variable ${JSON.stringify(k)} is not a valid name (or is reserved: CAIRN_*)`,
      );
  r.done('run spec');
  return {
    name,
    project,
    command,
    code,
    inputs,
    params,
    environment: {
      ...(env.image ? { image: env.image as string } : {}),
      ...(env.lockfile ? { lockfile: env.lockfile as string } : {}),
      vars: Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, v === null ? '' : String(v)])),
    },
    resources: {
      gpus,
      cpus,
      memoryMb: Math.ceil(((res.memory as number | undefined) ?? 0) / (1024 * 1024)),
      timeLimitS: Math.ceil(((res.time as number | undefined) ?? 0) / 1000),
    },
    outputs,
    backend,
    slurm: slurm as RunSpec['slurm'],
    priority,
    graceS: Math.ceil(((ckpt.grace as number | undefined) ?? 30_000) / 1000),
    requeue,
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
    if (head === 'params' && sub) out.params[sub] = v as string | number | boolean | null;
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

function scalar(raw: string): unknown {
  if (raw === 'true' || raw === 'false') return raw === 'true';
  if (raw === 'null') return null;
  if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(raw)) return Number(raw);
  return raw;
}

// Params reach the shell quoted for where they stand (render-command.ts).
export { renderCommand } from './render-command.js';
