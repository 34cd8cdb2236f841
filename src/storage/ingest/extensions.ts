import { extname } from 'node:path';

export interface ExtensionStat {
  ext: string;
  files: number;
  bytes: number;
}

/** Files and bytes per lower-cased extension, counted one file at a time (no list of files kept). */
export class ExtensionTally {
  readonly #by = new Map<string, { files: number; bytes: number }>();

  add(path: string, size: number): void {
    const ext = extname(path).toLowerCase() || '(none)';
    let e = this.#by.get(ext);
    if (!e) this.#by.set(ext, (e = { files: 0, bytes: 0 }));
    e.files++;
    e.bytes += size;
  }

  /** The `top` extensions by bytes (ties by name). */
  top(top = 10): ExtensionStat[] {
    return [...this.#by]
      .map(([ext, v]) => ({ ext, ...v }))
      .sort((a, b) => b.bytes - a.bytes || a.ext.localeCompare(b.ext))
      .slice(0, top);
  }
}
