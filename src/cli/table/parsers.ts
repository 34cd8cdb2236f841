import { CairnError } from '../../core/errors.js';

/** 1 to 64 (worker and thread counts). */
export function parsePositive(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 64)
    throw new CairnError('USAGE', `expected a whole number from 1 to 64, got ${JSON.stringify(v)}`);
  return n;
}

/** Bytes per second from "50M", "10MiB", "2.5MiB/s" (SI or binary units). */
export function parseRateOption(v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmg]?)(i?b)?(?:\/s)?$/i.exec(v.trim());
  if (!m) throw new CairnError('USAGE', `expected a rate like 50M or 2.5MiB/s, got ${JSON.stringify(v)}`);
  const unit = m[2]!.toLowerCase();
  const base = m[3]?.toLowerCase() === 'ib' ? 1024 : 1000;
  const mult = unit === 'k' ? base : unit === 'm' ? base ** 2 : unit === 'g' ? base ** 3 : 1;
  return Math.max(1, Math.round(Number(m[1]) * mult));
}

export function parseCount(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new CairnError('USAGE', `expected a whole number, got ${JSON.stringify(v)}`);
  return n;
}
