import { CairnError } from '../../core/errors.js';

/** Keys come from remote listings too: a hostile remote must not steer a write outside its root. */
export function assertKey(key: string): string {
  const bad =
    key === '' ||
    key.startsWith('/') ||
    key.includes('\0') ||
    key.includes('\\') ||
    key.split('/').some((p) => p === '' || p === '.' || p === '..');
  if (bad)
    throw new CairnError('PATH_UNSAFE', `the remote object key ${JSON.stringify(key)} is not a plain relative path`, {
      data: { key },
    });
  return key;
}
