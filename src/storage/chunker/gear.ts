import { createHash } from 'node:crypto';

/** Changing this string changes every chunk boundary, i.e. the on-disk format. */
export const GEAR_SEED = 'cairn-gear-v1';

/**
 * GEAR[i] = first 4 bytes, big-endian, of SHA-256(ASCII(GEAR_SEED) || byte i). Derived rather
 * than pasted so the table can be audited and re-derived from the spec alone. Stored as int32
 * because V8 keeps Int32Array loads in integer registers, while Uint32Array values above 2^31
 * would be boxed as doubles in the hot loop.
 */
function deriveGear(): Int32Array {
  const table = new Int32Array(256);
  const prefix = Buffer.from(GEAR_SEED, 'ascii');
  for (let i = 0; i < 256; i++) {
    const digest = createHash('sha256').update(prefix).update(Uint8Array.of(i)).digest();
    table[i] = digest.readInt32BE(0);
  }
  return table;
}

export const GEAR: Int32Array = deriveGear();

/** The table as unsigned values, the form the spec documents. */
export function gearTableU32(): Uint32Array {
  return new Uint32Array(GEAR.buffer.slice(0));
}
