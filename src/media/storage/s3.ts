import { createReadStream } from 'node:fs';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { MediaS3Config } from '../../config.js';
import { contentDisposition } from '../media.names.js';
import type { MediaStorage, PutMeta, UrlOptions } from './storage.js';

export type S3Settings = MediaS3Config;

/** Any S3-compatible store; reads go straight to the store through presigned GET URLs. */
export class S3Storage implements MediaStorage {
  readonly driver = 's3';
  private readonly client: S3Client;

  constructor(private readonly settings: S3Settings) {
    this.client = new S3Client({
      region: settings.region,
      forcePathStyle: settings.forcePathStyle,
      ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
      ...(settings.accessKeyId && settings.secretAccessKey
        ? { credentials: { accessKeyId: settings.accessKeyId, secretAccessKey: settings.secretAccessKey } }
        : {}),
      // The SDK's default CRC trailers (aws-chunked bodies) are not understood by every S3-compatible store.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  async put(key: string, path: string, meta: PutMeta): Promise<void> {
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.settings.bucket,
        Key: key,
        Body: createReadStream(path),
        ContentLength: meta.size,
        ContentType: meta.contentType,
        ContentDisposition: contentDisposition(meta.disposition, meta.fileName),
        // Keys are never reused, so an object never changes.
        CacheControl: 'private, max-age=31536000, immutable',
      }),
    );
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.settings.bucket, Key: key }));
  }

  async signedUrl(key: string, opts: UrlOptions): Promise<string> {
    const command = new GetObjectCommand({
      Bucket: this.settings.bucket,
      Key: key,
      ResponseContentDisposition: contentDisposition(opts.disposition, opts.fileName),
    });
    return getSignedUrl(this.client, command, {
      signingDate: new Date(opts.issuedAt * 1000),
      expiresIn: Math.max(1, opts.expiresAt - opts.issuedAt),
    });
  }

  close(): void {
    this.client.destroy();
  }
}
