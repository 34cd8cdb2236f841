import type { OptionsOf } from '../table/define.js';
import type { runShow } from './commands.js';
import type { RunDetails } from '../../compute/index.js';
import { commandContext, withServices } from '../context.js';

interface ShownReason {
  code: string;
  message: string;
  policy?: { thresholdPct: number; windowS: number; action: string };
  samples?: Array<{ t: number; util: number[] }>;
}

/** A reason in words; an idle-policy one also names the policy and the samples that triggered it. */
export function describeReason(r: ShownReason, indent = ''): string[] {
  const lines = [`${r.code}: ${r.message}`];
  if (r.policy)
    lines.push(`${indent}policy: under ${r.policy.thresholdPct}% for ${r.policy.windowS} s → ${r.policy.action}`);
  if (r.samples?.length) {
    const shown = r.samples.slice(-10).map((x) => `${x.t}s ${x.util.map((u) => `${u}%`).join('/')}`);
    lines.push(
      `${indent}samples: ${r.samples.length > 10 ? `… ${r.samples.length - 10} more, ` : ''}${shown.join(', ')}`,
    );
  }
  return lines;
}

/** Memory as people read it: MiB, with a decimal below 10 MiB so a small job is not "0 MiB". */
function mib(kb: number): string {
  const m = kb / 1024;
  return `${m < 10 ? m.toFixed(1) : Math.round(m)} MiB`;
}

/** The code a run used: its commit and uncommitted changes, or its declared code paths' digest. */
function codeLine(d: RunDetails): string {
  const paths = d.spec.keyInput?.code.paths;
  if (paths)
    return `paths ${paths.join(', ')}: sha256:${d.code.dirty?.slice(0, 12) ?? '?'}…${d.code.commit ? ` (at commit ${d.code.commit.slice(0, 12)})` : ''}`;
  if (!d.code.commit) return `not a git repository; files sha256:${d.code.dirty?.slice(0, 12) ?? '?'}…`;
  return `${d.code.commit}${d.code.dirty ? ` + uncommitted changes sha256:${d.code.dirty.slice(0, 12)}…` : ''}`;
}

export function describeRun(d: RunDetails): string {
  const lines = [
    `run ${d.humanName ?? d.id}  [${d.status}]  spec ${d.name}  project ${d.project}  backend ${d.backend}${d.job ? ` (job ${d.job})` : ''}`,
    `  id        ${d.id}`,
    ...(Object.keys(d.tags).length
      ? [
          `  tags      ${Object.entries(d.tags)
            .map(([k, v]) => `${k}=${v}`)
            .join(' ')}`,
        ]
      : []),
    ...(d.note ? [`  note      ${d.note}`] : []),
    `  run key   sha256:${d.runKey}`,
    `  code      ${codeLine(d)}`,
    `  inputs    ${d.spec.inputs.map((i) => `${i.name}=${i.ref}`).join(', ') || '(none)'}`,
    `  params    ${
      Object.entries(d.params)
        .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
        .join(' ') || '(none)'
    }`,
    `  times     created ${d.createdAt}${d.startedAt ? `, started ${d.startedAt}` : ''}${d.endedAt ? `, ended ${d.endedAt}` : ''}`,
  ];
  if (d.reason)
    lines.push(
      ...describeReason(d.reason as ShownReason, '            ').map((l, i) => (i === 0 ? `  reason    ${l}` : l)),
    );
  if (d.reusedFrom) lines.push(`  reused    results of run ${d.reusedFrom}`);
  if (d.imported)
    lines.push(
      `  imported  from workspace ${d.imported.workspace ?? '?'} (log ${d.imported.origin}, entry ${d.imported.index}), run by ${d.imported.author}; brought here by ${d.imported.by}${d.imported.record ? '' : ' (its log predates metric digests: metrics and logged params were not imported)'}`,
    );
  if (d.exitCode !== null) lines.push(`  exit      ${d.exitCode}`);
  for (const m of d.metrics)
    lines.push(
      `  metric    ${m.name}: ${m.last}${m.lastStep !== null ? ` @ step ${m.lastStep}` : ''} (${m.points} points, min ${m.min}, max ${m.max})`,
    );
  const u = d.usage as {
    elapsedS?: number;
    cpuSeconds?: number | null;
    maxRssKb?: number | null;
    gpuSeconds?: number;
    gpu?: { available: boolean; reason?: string };
    policy?: Array<{ t: string; action: string; detail: string }>;
  };
  if (u.elapsedS != null)
    lines.push(
      `  usage     wall ${u.elapsedS.toFixed(1)} s, CPU ${u.cpuSeconds?.toFixed(1) ?? '?'} s, peak memory ${u.maxRssKb != null ? mib(u.maxRssKb) : '?'}, GPU ${((u.gpuSeconds ?? 0) / 3600).toFixed(3)} h${u.gpu && !u.gpu.available ? ` (utilization unavailable: ${u.gpu.reason})` : ''}`,
    );
  for (const p of u.policy ?? []) lines.push(`  policy    ${p.action} at ${p.t}: ${p.detail}`);
  if (d.output) lines.push(`  output    ${d.output}`);
  lines.push(`  files     ${d.dir}`);
  return lines.join('\n');
}

export async function run(id: string, opts: OptionsOf<typeof runShow>): Promise<void> {
  const ctx = commandContext(opts);
  const d = await withServices(opts, 'run show', (s) => s.runs.show(id));
  ctx.out.result(d);
  ctx.out.say(describeRun(d));
}
