import { runDeps } from '../app/compute.js';
import type { Workspace } from '../app/workspace.js';
import * as compute from '../compute/index.js';

// Tests of other domains run training jobs on a plain Workspace: these give it its compute
// ports (built by app/, as a command gets them), one set per workspace.
const ports = new WeakMap<Workspace, Workspace & compute.RunDeps>();

export function runsOf(ws: Workspace): Workspace & compute.RunDeps {
  let d = ports.get(ws);
  if (!d) ports.set(ws, (d = runDeps(ws)));
  return d;
}

export const prepareRun = (ws: Workspace, specPath: string, opts?: Parameters<typeof compute.prepareRun>[2]) =>
  compute.prepareRun(runsOf(ws), specPath, opts);

export const submitRun = (ws: Workspace, p: compute.PreparedRun, opts?: { force?: boolean }) =>
  compute.submitRun(runsOf(ws), p, opts);

export const waitRun = (ws: Workspace, id: string, opts?: Parameters<typeof compute.waitRun>[2]) =>
  compute.waitRun(runsOf(ws), id, opts);
