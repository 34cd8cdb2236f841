// The peer of the `transfer` suite: `rclone copy` to the same S3 server Cairn pushes to.
//
// rclone gets a config file of its own (never ~/.config/rclone) with one S3 remote pointed at
// the counting proxy, and runs with its default transfer settings (rclone 1.60: --transfers 4,
// --checkers 8; S3 upload_cutoff 200 MiB, chunk_size 5 MiB, upload_concurrency 4, a HEAD after
// every upload to check it unless --s3-no-head). Debian's package: `apt-get install rclone`
// (scripts/install-bench-peers.sh).

import { writeFileSync } from 'node:fs';
import { toolVersion } from '../lib/measure.mjs';
import { S3_CREDENTIALS } from './s3.mjs';

export const RCLONE_REMOTE = 'bench';

/** `rclone v1.60.1-DEV`, or null when rclone is not installed. */
export function rcloneVersion() {
  return toolVersion(['rclone', 'version']);
}

/** Writes an rclone.conf with remote `bench` (type s3) for `endpoint`; returns its text. */
export function writeRcloneConfig(file, endpoint) {
  const text = [
    `[${RCLONE_REMOTE}]`,
    'type = s3',
    'provider = Other',
    'env_auth = false',
    `access_key_id = ${S3_CREDENTIALS.accessKeyId}`,
    `secret_access_key = ${S3_CREDENTIALS.secretAccessKey}`,
    `region = ${S3_CREDENTIALS.region}`,
    `endpoint = ${endpoint}`,
    'force_path_style = true',
    '',
  ].join('\n');
  writeFileSync(file, text);
  return text;
}

/** argv of `rclone copy <src> bench:<bucket>/<prefix>` with the config file. */
export function rcloneCopyArgv(configFile, src, bucket, prefix) {
  return ['rclone', '--config', configFile, 'copy', src, `${RCLONE_REMOTE}:${bucket}/${prefix}`];
}

/**
 * The environment for rclone: no AWS_CA_BUNDLE (rclone's S3 client refuses a CA bundle on its
 * HTTP transport: "LoadCustomCABundleError"; the endpoint is plain http anyway), no proxies.
 */
export function rcloneEnv() {
  return {
    AWS_CA_BUNDLE: undefined,
    HTTP_PROXY: undefined,
    HTTPS_PROXY: undefined,
    http_proxy: undefined,
    https_proxy: undefined,
    NO_PROXY: '127.0.0.1,localhost',
  };
}
