import { CairnError } from './errors.js';
import { checkDatasetName, checkTagName } from './names.js';

export type VersionSelector =
  | { kind: 'latest' }
  | { kind: 'number'; number: number }
  | { kind: 'tag'; tag: string }
  | { kind: 'digest'; prefix: string };

export interface DatasetRef {
  dataset: string;
  selector: VersionSelector;
}

/** Parses `name`, `name@latest`, `name@v3`, `name@<tag>` or `name@sha256:<hex prefix, 4+ chars>`. */
export function parseRef(ref: string): DatasetRef {
  const at = ref.indexOf('@');
  const name = at < 0 ? ref : ref.slice(0, at);
  const sel = at < 0 ? '' : ref.slice(at + 1);
  try {
    checkDatasetName(name);
  } catch {
    throw invalid(ref);
  }
  if (at < 0 || sel === 'latest') return { dataset: name, selector: { kind: 'latest' } };
  const num = /^v(\d{1,9})$/.exec(sel);
  if (num) return { dataset: name, selector: { kind: 'number', number: Number(num[1]) } };
  if (sel.startsWith('sha256:')) {
    const prefix = sel.slice(7).toLowerCase();
    if (!/^[0-9a-f]{4,64}$/.test(prefix)) throw invalid(ref);
    return { dataset: name, selector: { kind: 'digest', prefix } };
  }
  try {
    return { dataset: name, selector: { kind: 'tag', tag: checkTagName(sel) } };
  } catch {
    throw invalid(ref);
  }
}

export function formatRef(dataset: string, number: number): string {
  return `${dataset}@v${number}`;
}

function invalid(ref: string): CairnError {
  return new CairnError('INVALID_REF', `invalid ref ${JSON.stringify(ref)}`, {
    hint: 'write name, name@v3, name@<tag> or name@sha256:<at least 4 hex characters>',
    data: { ref },
  });
}
