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

/**
 * The folders under a remote's root that a write or delete of `key` goes through (its temp
 * folder `tmp` first): each must be a real folder, never a symbolic link someone with write
 * access to the remote planted there (checked by each backend with its own lstat).
 */
export function foldersOf(key: string, tmp: string): string[] {
  const parts = assertKey(key).split('/').slice(0, -1);
  return [...new Set([tmp, ...parts.map((_, i) => parts.slice(0, i + 1).join('/'))])];
}

/** What a write or delete through a linked folder of the remote fails with. */
export function linkedFolder(url: string, key: string, rel: string): CairnError {
  return new CairnError('PATH_UNSAFE', `${url}: ${rel} is a symbolic link; nothing is written or deleted through it`, {
    hint: 'a remote holds real folders only; someone with write access to it may have planted the link',
    data: { key, link: rel },
  });
}
