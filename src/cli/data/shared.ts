import { pseudonymKey } from '../../app/keys.js';
import type { DataprepDeps } from '../../dataprep/service/context.js';
import { commandContext, withWorkspace, type GlobalOptions } from '../context.js';

export { commandContext, type GlobalOptions };

/** A workspace with the data-preparation ports wired in. */
export function withDataprep<T>(
  opts: GlobalOptions,
  command: string,
  fn: (deps: DataprepDeps) => Promise<T>,
): Promise<T> {
  return withWorkspace(opts, command, (ws) => fn({ ...ws, pseudonymKey: () => pseudonymKey(ws.cairnDir) }));
}
