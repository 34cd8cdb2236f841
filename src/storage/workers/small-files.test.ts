import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { useTempDirs } from '../../test-support/temp.js';
import { WorkerPool } from './pool.js';
import { SMALL_FIELDS, SMALL_OFFSET, SMALL_SIZE, type SmallFileReply } from './protocol.js';

const temp = useTempDirs();
const pool = new WorkerPool(1);
afterAll(() => pool.close());

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('small-file batches (packed messages)', () => {
  it('returns each file at its reserved offset with its digest (no second stat: the walk took it)', async () => {
    const dir = temp();
    const bodies = [Buffer.from('hello'), Buffer.alloc(0), Buffer.from('x'.repeat(300)), Buffer.from('é\n')];
    const paths = bodies.map((b, i) => {
      const p = join(dir, `f${i}`);
      fs.writeFileSync(p, b);
      return p;
    });
    // Room for one more byte than each file holds: offsets follow the rooms, not the bytes read.
    const sizes = Float64Array.from(bodies, (b) => b.length + 1);
    const reply = (await pool.run({ type: 'small', paths: paths.join('\0'), sizes })) as SmallFileReply;
    expect(reply.errors).toEqual([]);
    const data = Buffer.from(reply.data);
    const digests = Buffer.from(reply.digests);
    let room = 0;
    bodies.forEach((b, i) => {
      const m = i * SMALL_FIELDS;
      expect(reply.meta[m + SMALL_SIZE]).toBe(b.length);
      expect(reply.meta[m + SMALL_OFFSET]).toBe(room);
      expect(data.subarray(room, room + b.length).equals(b)).toBe(true);
      expect(digests.toString('hex', i * 32, i * 32 + 32)).toBe(sha(b));
      room += b.length + 1;
    });
  });

  it('names the files that could not be read (gone, grown past their room) and reads the rest', async () => {
    const dir = temp();
    fs.writeFileSync(join(dir, 'ok'), 'fine');
    fs.writeFileSync(join(dir, 'grown'), 'longer than the walk saw');
    // One byte more than its room: noticed by reading past the room, not by a stat.
    fs.writeFileSync(join(dir, 'grown-by-one'), 'abcdef');
    const paths = [join(dir, 'ok'), join(dir, 'gone'), join(dir, 'grown'), join(dir, 'grown-by-one')];
    const sizes = Float64Array.from([4, 3, 5, 5]);
    const reply = (await pool.run({ type: 'small', paths: paths.join('\0'), sizes })) as SmallFileReply;
    expect(reply.errors.map((e) => [e.index, e.error.code])).toEqual([
      [1, 'ENOENT'],
      [2, 'ECHANGED'],
      [3, 'ECHANGED'],
    ]);
    expect(Buffer.from(reply.digests).toString('hex', 0, 32)).toBe(sha(Buffer.from('fine')));
    // A file that failed leaves no digest that could pass for content.
    expect(
      Buffer.from(reply.digests)
        .subarray(32, 96)
        .every((b) => b === 0),
    ).toBe(true);
  });
});
