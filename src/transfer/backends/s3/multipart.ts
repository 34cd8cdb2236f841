import { createHash } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';

/** S3 refuses parts below 5 MiB (except the last) and uploads of more than 10,000 parts. */
export const MIN_PART_BYTES = 5 * 1024 * 1024;
export const MAX_PARTS = 10_000;

export interface MultipartContext {
  client: S3Client;
  bucket: string;
  objectKey: string;
  /** Runs one request with the backend's retries; `attempt` counts from 1. */
  retried<T>(action: string, fn: (attempt: number) => Promise<T>): Promise<T>;
  /** Whether `objectKey` already holds exactly this body (checked by its stored sha256). */
  landed(): Promise<boolean>;
}

export interface MultipartPlan {
  body: Buffer;
  sha256: string;
  partBytes: number;
  concurrency: number;
}

/**
 * Uploads `body` in parts, a bounded number at a time. S3 only makes the object visible on
 * CompleteMultipartUpload, so a failure before that leaves no object; the upload is then
 * aborted, after every part in flight has settled (a part landing after the abort would be
 * stored and billed again).
 */
export async function multipartPut(ctx: MultipartContext, plan: MultipartPlan): Promise<void> {
  const { client, bucket, objectKey: Key } = ctx;
  // A lost reply here orphans an upload we never learn the id of; only a bucket lifecycle
  // rule (AbortIncompleteMultipartUpload) reclaims those.
  const created = await ctx.retried('start a multipart upload of', () =>
    client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key, Metadata: { sha256: plan.sha256 } })),
  );
  const UploadId = created.UploadId;
  if (!UploadId) throw new Error('CreateMultipartUpload returned no UploadId');
  try {
    const parts = await uploadParts(ctx, UploadId, plan);
    await ctx.retried('complete the multipart upload of', async (attempt) => {
      // The first Complete may have succeeded with its reply lost; its retry would then find
      // no upload. Our body already in place means the put is done.
      if (attempt > 1 && (await ctx.landed())) return;
      await client.send(
        new CompleteMultipartUploadCommand({ Bucket: bucket, Key, UploadId, MultipartUpload: { Parts: parts } }),
      );
    });
  } catch (err) {
    await ctx
      .retried('abort the multipart upload of', () =>
        client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key, UploadId })),
      )
      .catch(() => {});
    throw err;
  }
}

async function uploadParts(
  ctx: MultipartContext,
  UploadId: string,
  plan: MultipartPlan,
): Promise<Array<{ PartNumber: number; ETag: string }>> {
  const count = Math.ceil(plan.body.length / plan.partBytes);
  const etags: string[] = new Array<string>(count);
  let next = 0;
  let failure: { err: unknown } | null = null;
  const worker = async (): Promise<void> => {
    while (failure === null && next < count) {
      const index = next++;
      const chunk = plan.body.subarray(
        index * plan.partBytes,
        Math.min(plan.body.length, (index + 1) * plan.partBytes),
      );
      const md5 = createHash('md5').update(chunk).digest('base64');
      try {
        const res = await ctx.retried(`upload part ${index + 1} of`, () =>
          ctx.client.send(
            new UploadPartCommand({
              Bucket: ctx.bucket,
              Key: ctx.objectKey,
              UploadId,
              PartNumber: index + 1,
              Body: chunk,
              ContentLength: chunk.length,
              ContentMD5: md5,
            }),
          ),
        );
        if (!res.ETag) throw new Error(`UploadPart ${index + 1} returned no ETag`);
        etags[index] = res.ETag;
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(plan.concurrency, count) }, worker));
  if (failure !== null) throw (failure as { err: unknown }).err;
  return etags.map((ETag, i) => ({ PartNumber: i + 1, ETag }));
}
