import { canonicalJson } from '../../core/canonical-json.js';
import { sha256Hex } from '../../core/digest.js';

/** Everything that decides a run's result — and nothing else (not resources, not the backend). */
export interface RunKeyInput {
  command: string;
  /** With `paths` (a spec's `code: [paths]`): commit is null and dirty covers just those paths. */
  code: { commit: string | null; dirty: string | null; paths?: string[] };
  /** Input name → version digest (bare hex). */
  inputs: Record<string, string>;
  params: Record<string, unknown>;
  environment: { image: string | null; lockfile: string | null; vars: Record<string, string> };
}

/** SHA-256 of the canonical JSON of the key input (docs/COMPUTE.md "Run key"). */
export function runKey(input: RunKeyInput): string {
  return sha256Hex(canonicalJson({ format: 'cairn.run-key/v1', ...input }));
}

/**
 * Why `current` is not `previous`: one line per differing part, so `run plan` can say why the
 * cache misses ("params.lr: 0.01 → 0.1").
 */
export function keyDifferences(
  previous: RunKeyInput,
  current: RunKeyInput,
  codeFiles: readonly string[] | null = null,
): string[] {
  const out: string[] = [];
  const show = (v: unknown) =>
    v === undefined
      ? '(absent)'
      : typeof v === 'string' && /^[0-9a-f]{64}$/.test(v)
        ? `sha256:${v.slice(0, 12)}…`
        : JSON.stringify(v);
  if (previous.command !== current.command) out.push(`command: ${show(previous.command)} → ${show(current.command)}`);
  const code: string[] = [];
  if (previous.code.commit !== current.code.commit)
    code.push(
      `code: commit ${previous.code.commit?.slice(0, 12) ?? '(none)'} → ${current.code.commit?.slice(0, 12) ?? '(none)'}`,
    );
  if (previous.code.dirty !== current.code.dirty) {
    const outsideGit = previous.code.commit === null && current.code.commit === null;
    code.push(
      outsideGit
        ? 'code: the files differ'
        : current.code.dirty === null
          ? 'code: the uncommitted changes are gone'
          : previous.code.dirty === null
            ? 'code: there are uncommitted changes'
            : 'code: the uncommitted changes differ',
    );
  }
  // Name the files (codeFileChanges) on the last code line.
  if (code.length && codeFiles?.length) code[code.length - 1] += `: ${codeFiles.join(', ')}`;
  out.push(...code);
  const diffMap = (label: string, a: Record<string, unknown>, b: Record<string, unknown>) => {
    for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
      if (canonicalJson(a[k] ?? null) !== canonicalJson(b[k] ?? null) || k in a !== k in b)
        out.push(`${label}.${k}: ${show(a[k])} → ${show(b[k])}`);
    }
  };
  diffMap('inputs', previous.inputs, current.inputs);
  diffMap('params', previous.params, current.params);
  diffMap(
    'environment',
    { image: previous.environment.image, lockfile: previous.environment.lockfile, ...previous.environment.vars },
    { image: current.environment.image, lockfile: current.environment.lockfile, ...current.environment.vars },
  );
  return out;
}
