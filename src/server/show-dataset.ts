import type { ServerRuntime } from '../app/server.js';
import type { Services } from '../app/services.js';
import { isCairnError } from '../core/errors.js';

/**
 * `data show` on the server: a version pushed to it came as metadata only, so its trees are
 * still only in the store; they are read from there (docs/SERVER.md "Data plane"), the same
 * listing a workspace gives, and nothing is pulled into the server's workspace.
 */
export async function showDataset(s: Services, rt: ServerRuntime, ref: string, opts: { limit?: number }) {
  try {
    return await s.datasets.show(ref, opts);
  } catch (e) {
    const root = isCairnError(e, 'MISSING_OBJECT') ? (e.data as { tree?: unknown }).tree : undefined;
    const load = rt.store && typeof root === 'string' ? await rt.store.trees(root) : null;
    if (!load) throw e;
    return s.datasets.show(ref, { ...opts, load });
  }
}
