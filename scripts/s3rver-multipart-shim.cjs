// Shared by src/test-support/s3-server.ts and bench/transfer/s3.mjs (both run s3rver in a child
// process that requires this file): s3rver 3.7 answers AbortMultipartUpload with 405 and
// ListMultipartUploads with 501 and has no ListParts, which real S3 has and Cairn's S3 backend relies on to leave no
// orphaned parts; this middleware answers both from s3rver's own upload folder,
// `<bucket>/._S3rver_uploads/<id>/`. s3rver also takes UploadPart for an upload that was
// completed, aborted or never started (it makes the folder anew, an orphan no one can list or
// abort); S3 answers 404 NoSuchUpload, and so does this shim.
'use strict';
const fs = require('fs');
const path = require('path');

module.exports = function installMultipartShim(server, directory) {
  const xml = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const uploadsDir = (b) => path.join(directory, b, '._S3rver_uploads');
  const noSuchUpload = (ctx) => {
    ctx.status = 404;
    ctx.type = 'application/xml';
    ctx.body =
      '<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchUpload</Code><Message>The specified upload does not exist.</Message></Error>';
  };
  server.middleware.unshift(async (ctx, next) => {
    const m = /^\/([^/]+)\/?(.*)$/.exec(ctx.path);
    if (!m) return next();
    const [, b, key] = m;
    if (ctx.method === 'DELETE' && key && typeof ctx.query.uploadId === 'string') {
      const id = ctx.query.uploadId;
      const dir = path.join(uploadsDir(b), id);
      if (!/^[0-9a-f]+$/.test(id) || !fs.existsSync(dir)) return noSuchUpload(ctx);
      fs.rmSync(dir, { recursive: true, force: true });
      ctx.status = 204;
      return;
    }
    if (ctx.method === 'PUT' && key && typeof ctx.query.uploadId === 'string' && 'partNumber' in ctx.query) {
      const id = ctx.query.uploadId;
      if (!/^[0-9a-f]+$/.test(id) || !fs.existsSync(path.join(uploadsDir(b), id, 'key'))) return noSuchUpload(ctx);
      return next();
    }
    if (ctx.method === 'GET' && key && typeof ctx.query.uploadId === 'string') {
      // ListParts (s3rver answers it as a GetObject): each part's number, size and MD5 ETag.
      const id = ctx.query.uploadId;
      const dir = path.join(uploadsDir(b), id);
      if (!/^[0-9a-f]+$/.test(id) || !fs.existsSync(path.join(dir, 'key'))) return noSuchUpload(ctx);
      const parts = fs
        .readdirSync(dir)
        .filter((f) => /^[0-9]+$/.test(f) && fs.existsSync(path.join(dir, f + '.md5')))
        .map((f) => ({
          n: Number(f),
          size: fs.statSync(path.join(dir, f)).size,
          md5: fs.readFileSync(path.join(dir, f + '.md5'), 'utf8'),
        }))
        .sort((x, y) => x.n - y.n);
      ctx.type = 'application/xml';
      ctx.body =
        '<?xml version="1.0" encoding="UTF-8"?><ListPartsResult><Bucket>' +
        xml(b) +
        '</Bucket><Key>' +
        xml(key) +
        '</Key><UploadId>' +
        id +
        '</UploadId><MaxParts>10000</MaxParts><IsTruncated>false</IsTruncated>' +
        parts
          .map(
            (p) =>
              '<Part><PartNumber>' +
              p.n +
              '</PartNumber><ETag>"' +
              p.md5 +
              '"</ETag><Size>' +
              p.size +
              '</Size></Part>',
          )
          .join('') +
        '</ListPartsResult>';
      return;
    }
    if (ctx.method === 'GET' && !key && 'uploads' in ctx.query) {
      const prefix = typeof ctx.query.prefix === 'string' ? ctx.query.prefix : '';
      const ids = fs.existsSync(uploadsDir(b)) ? fs.readdirSync(uploadsDir(b)) : [];
      const uploads = ids
        .filter((id) => fs.existsSync(path.join(uploadsDir(b), id, 'key')))
        .map((id) => {
          const keyFile = path.join(uploadsDir(b), id, 'key');
          return { id, key: fs.readFileSync(keyFile, 'utf8'), initiated: fs.statSync(keyFile).mtime.toISOString() };
        })
        .filter((u) => u.key.startsWith(prefix));
      ctx.type = 'application/xml';
      ctx.body =
        '<?xml version="1.0" encoding="UTF-8"?><ListMultipartUploadsResult><Bucket>' +
        xml(b) +
        '</Bucket><Prefix>' +
        xml(prefix) +
        '</Prefix><MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated>' +
        uploads
          .map(
            (u) =>
              '<Upload><Key>' +
              xml(u.key) +
              '</Key><UploadId>' +
              u.id +
              '</UploadId><Initiated>' +
              u.initiated +
              '</Initiated></Upload>',
          )
          .join('') +
        '</ListMultipartUploadsResult>';
      return;
    }
    return next();
  });
};
