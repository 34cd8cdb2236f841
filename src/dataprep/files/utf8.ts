import { isUtf8 } from 'node:buffer';

/**
 * The offset of the first byte that makes `b` invalid UTF-8 (overlong forms, surrogates and
 * code points past U+10FFFF are invalid, as in TextDecoder's fatal mode), or -1 when valid.
 * With `allowIncompleteEnd`, a sequence cut off by the end of `b` is accepted: `b` may be
 * the head of a longer file.
 */
export function firstInvalidUtf8(b: Uint8Array, allowIncompleteEnd = false): number {
  const n = b.length;
  let i = 0;
  while (i < n) {
    const c = b[i] as number;
    if (c < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) need = 1;
    else if (c >= 0xe0 && c <= 0xef) {
      need = 2;
      if (c === 0xe0) lo = 0xa0;
      if (c === 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3;
      if (c === 0xf0) lo = 0x90;
      if (c === 0xf4) hi = 0x8f;
    } else return i;
    for (let k = 1; k <= need; k++) {
      if (i + k >= n) return allowIncompleteEnd ? -1 : i;
      const d = b[i + k] as number;
      const min = k === 1 ? lo : 0x80;
      const max = k === 1 ? hi : 0xbf;
      if (d < min || d > max) return i;
    }
    i += need + 1;
  }
  return -1;
}

/**
 * Whether `b` is valid UTF-8, allowing a sequence cut off by its end (`b` may be the head of a
 * longer file). Native validation first; the JS walk only for the cut-off case.
 */
export function isUtf8Head(b: Buffer): boolean {
  return isUtf8(b) || isUtf8(b.subarray(0, b.length - incompleteTail(b)));
}

/** How many trailing bytes of `b` start a sequence that the next bytes may complete (0–3). */
function incompleteTail(b: Uint8Array): number {
  for (let k = 1; k <= Math.min(3, b.length); k++) {
    const c = b[b.length - k] as number;
    if (c < 0x80) return 0;
    if (c >= 0xc0) {
      const len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
      return len > k ? k : 0;
    }
  }
  return 0;
}

/** Validates UTF-8 that arrives in pieces; reports the byte offset of the first error. */
export class Utf8Validator {
  #carry: Buffer = Buffer.alloc(0);
  #offset = 0;
  #error = -1;

  push(chunk: Buffer): void {
    if (this.#error >= 0) return;
    const data = this.#carry.length > 0 ? Buffer.concat([this.#carry, chunk]) : chunk;
    const keep = incompleteTail(data);
    const body = data.subarray(0, data.length - keep);
    // isUtf8 is native and fast; the JS walk only runs to locate an error.
    if (!isUtf8(body)) {
      this.#error = this.#offset + Math.max(0, firstInvalidUtf8(body));
      return;
    }
    this.#offset += body.length;
    this.#carry = Buffer.from(data.subarray(body.length));
  }

  /** -1 when everything pushed was valid UTF-8, else the offset of the first bad byte. */
  end(): number {
    if (this.#error < 0 && this.#carry.length > 0) this.#error = this.#offset;
    return this.#error;
  }
}
