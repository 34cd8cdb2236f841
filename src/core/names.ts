import { CairnError } from './errors.js';

const SEGMENT = '[A-Za-z0-9][A-Za-z0-9._-]*';
const DATASET_NAME = new RegExp(`^${SEGMENT}(?:/${SEGMENT})*$`);
const TAG_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Dataset names may be nested with `/` (e.g. `flights/train`, as the split command makes). */
export function checkDatasetName(name: string): string {
  if (
    !DATASET_NAME.test(name) ||
    name.length > 200 ||
    name.split('/').some((s) => s.endsWith('.') || s.includes('..'))
  ) {
    throw new CairnError('INVALID_NAME', `invalid dataset name ${JSON.stringify(name)}`, {
      hint: 'use letters, digits, . _ - and / between parts, starting each part with a letter or digit (e.g. flights or flights/train)',
      data: { name },
    });
  }
  return name;
}

export function checkTagName(tag: string): string {
  if (!TAG_NAME.test(tag) || tag.length > 128 || /^v\d+$/.test(tag) || tag === 'latest' || tag.startsWith('sha256')) {
    throw new CairnError('INVALID_NAME', `invalid tag ${JSON.stringify(tag)}`, {
      hint: 'tags use letters, digits, . _ -; `latest`, `v<number>` and `sha256…` are reserved for refs',
      data: { tag },
    });
  }
  return tag;
}

const ACCOUNT_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]*$/;

/** Account, group and project names: what audit events, grants and tokens refer to. */
export function checkName(name: string, what: 'user' | 'group' | 'project'): string {
  if (!ACCOUNT_NAME.test(name) || name.length > 128) {
    throw new CairnError('INVALID_NAME', `invalid ${what} name ${JSON.stringify(name)}`, {
      hint: 'use letters, digits and . _ @ -, starting with a letter or digit',
      data: { name },
    });
  }
  return name;
}
