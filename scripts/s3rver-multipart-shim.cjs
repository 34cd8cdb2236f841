// Shared by src/test-support/s3-server.ts and bench/transfer/s3.mjs (both run s3rver in a child
// process that requires this file): s3rver 3.7 answers AbortMultipartUpload with 405 and
// ListMultipartUploads with 501, which real S3 has and Cairn's S3 backend relies on to leave no
// orphaned parts; this middleware answers both from s3rver's own upload folder,
// `<bucket>/._S3rver_uploads/<id>/`.
'use strict';
const fs = require('fs');
const path = require('path');

module.exports = function installMultipartShim(server, directory) {
  const xml = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const uploadsDir = (b) => path.join(directory, b, '._S3rver_uploads');
  server.middleware.unshift(async (ctx, next) => {
    const m = /^\/([^/]+)\/?(.*)$/.exec(ctx.path);
    if (!m) return next();
    const [, b, key] = m;
    if (ctx.method === 'DELETE' && key && typeof ctx.query.uploadId === 'string') {
      const id = ctx.query.uploadId;
      const dir = path.join(uploadsDir(b), id);
      if (!/^[0-9a-f]+$/.test(id) || !fs.existsSync(dir)) {
        ctx.status = 404;
        ctx.type = 'application/xml';
        ctx.body =
          '<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchUpload</Code><Message>The specified upload does not exist.</Message></Error>';
        return;
      }
      fs.rmSync(dir, { recursive: true, force: true });
      ctx.status = 204;
      return;
    }
    if (ctx.method === 'GET' && !key && 'uploads' in ctx.query) {
      const prefix = typeof ctx.query.prefix === 'string' ? ctx.query.prefix : '';
      const ids = fs.existsSync(uploadsDir(b)) ? fs.readdirSync(uploadsDir(b)) : [];
      const uploads = ids
        .map((id) => ({ id, key: fs.readFileSync(path.join(uploadsDir(b), id, 'key'), 'utf8') }))
        .filter((u) => u.key.startsWith(prefix));
      ctx.type = 'application/xml';
      ctx.body =
        '<?xml version="1.0" encoding="UTF-8"?><ListMultipartUploadsResult><Bucket>' +
        xml(b) +
        '</Bucket><Prefix>' +
        xml(prefix) +
        '</Prefix><MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated>' +
        uploads.map((u) => '<Upload><Key>' + xml(u.key) + '</Key><UploadId>' + u.id + '</UploadId></Upload>').join('') +
        '</ListMultipartUploadsResult>';
      return;
    }
    return next();
  });
};
