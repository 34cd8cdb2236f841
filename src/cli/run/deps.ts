import type { Workspace } from '../../app/workspace.js';
import type { RunDeps } from '../../compute/runs/service.js';

export function runDeps(ws: Workspace): RunDeps {
  return ws;
}
