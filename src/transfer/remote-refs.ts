import { CairnError } from '../core/errors.js';
import { parseRef } from '../core/refs.js';
import type { RemoteState } from './state.js';

/** Resolves refs (`name`, `name@v3`, `name@tag`, `name@sha256:ab12…`) against a remote's state. */
export function resolveRemoteRefs(
  state: RemoteState,
  refs: readonly string[],
  remote: string,
): RemoteState['versions'] {
  const out = new Map<string, RemoteState['versions'][number]>();
  for (const text of refs) {
    const ref = parseRef(text);
    const ds = state.datasets.find((d) => d.name === ref.dataset);
    if (!ds)
      throw new CairnError('NOT_FOUND', `${remote} has no dataset ${ref.dataset}`, {
        hint: `datasets there: ${state.datasets.map((d) => d.name).join(', ') || 'none'}`,
      });
    const versions = state.versions.filter((v) => v.dataset_id === ds.id).sort((a, b) => a.number - b.number);
    const sel = ref.selector;
    let found: (typeof versions)[number] | undefined;
    if (sel.kind === 'latest') found = versions[versions.length - 1];
    else if (sel.kind === 'number') found = versions.find((v) => v.number === sel.number);
    else if (sel.kind === 'tag') {
      const t = state.tags.find((x) => x.dataset_id === ds.id && x.tag === sel.tag);
      found = t && versions.find((v) => v.id === t.version_id);
    } else {
      const m = versions.filter((v) => v.digest.startsWith(sel.prefix));
      if (new Set(m.map((v) => v.digest)).size > 1)
        throw new CairnError('AMBIGUOUS_REF', `${text} matches ${m.length} versions on ${remote}`);
      found = m[0];
    }
    if (!found) throw new CairnError('NOT_FOUND', `${remote} has no version ${text}`);
    out.set(found.id, found);
  }
  return [...out.values()];
}
