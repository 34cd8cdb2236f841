// A real RFC 3161 timestamp authority for tests: `openssl ts -reply` behind a tiny HTTP server.
// Usage: node tsa-server.mjs <dir> — <dir> holds tsa.cnf, tsa.pem, tsa.key (made by the test).
// Prints {"url": …} once it listens.
import { createServer } from 'node:http';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    try {
      const work = mkdtempSync(join(dir, 'req-'));
      writeFileSync(join(work, 'q.tsq'), Buffer.concat(chunks));
      execFileSync(
        'openssl',
        ['ts', '-reply', '-config', 'tsa.cnf', '-queryfile', join(work, 'q.tsq'), '-out', join(work, 'r.tsr')],
        {
          cwd: dir,
          stdio: 'ignore',
        },
      );
      const body = readFileSync(join(work, 'r.tsr'));
      res.writeHead(200, { 'content-type': 'application/timestamp-reply', 'content-length': body.length });
      res.end(body);
    } catch (err) {
      res.writeHead(400, { 'content-type': 'text/plain' });
      res.end(String(err));
    }
  });
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${server.address().port}/tsa` })}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
