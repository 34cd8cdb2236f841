import { CreateBucketCommand, HeadBucketCommand } from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { s3ErrorName, s3Status } from './s3-errors.js';

/**
 * Creates `bucket` unless it exists. Not part of the backend: creating buckets needs rights a
 * day-to-day push/pull identity should not hold, and region and policy choices are the
 * operator's. Tests and setup scripts use it.
 */
export async function ensureBucket(client: S3Client, bucket: string): Promise<void> {
  try {
    await client.send(new HeadBucketCommand({ Bucket: bucket }));
    return;
  } catch (err) {
    if (s3Status(err) !== 404) throw err;
  }
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (err) {
    // Another process may have created it since the HEAD.
    if (s3ErrorName(err) !== 'BucketAlreadyOwnedByYou') throw err;
  }
}
