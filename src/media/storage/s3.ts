import { createReadStream } from 'node:fs';
import type { S3Client } from '@aws-sdk/client-s3';
import type { MediaS3Config } from '../../config.js';
import { contentDisposition } from '../media.names.js';
import type { MediaStorage, PutMeta, UrlOptions } from './storage.js';

interface Sdk {
  s3: typeof import('@aws-sdk/client-s3');
  presigner: typeof import('@aws-sdk/s3-request-presigner');
}
let sdk: Promise<Sdk> | undefined;

// The AWS SDK is the largest module graph the service could load; only a deployment that stores media in S3 loads it.
const loadSdk = (): Promise<Sdk> =>
  (sdk ??= Promise.all([import('@aws-sdk/client-s3'), import('@aws-sdk/s3-request-presigner')]).then(([s3, presigner]) => ({
    s3,
    presigner,
  })));

/** Any S3-compatible store; reads go straight to the store through presigned GET URLs. */
export class S3Storage implements MediaStorage {
  readonly driver = 's3';
  private client: S3Client | undefined;

  constructor(private readonly settings: MediaS3Config) {}

  async prepare(): Promise<void> {
    await this.ready();
  }

  /** The SDK, loaded once, and this store's client, made on first use. */
  private async ready(): Promise<{ client: S3Client; sdk: Sdk }> {
    const sdk = await loadSdk();
    const { settings } = this;
    this.client ??= new sdk.s3.S3Client({
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
    return { client: this.client, sdk };
  }

  async put(key: string, path: string, meta: PutMeta): Promise<void> {
    const { client, sdk } = await this.ready();
    await client.send(
      new sdk.s3.PutObjectCommand({
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
    const { client, sdk } = await this.ready();
    await client.send(new sdk.s3.DeleteObjectCommand({ Bucket: this.settings.bucket, Key: key }));
  }

  async signedUrl(key: string, opts: UrlOptions): Promise<string> {
    const { client, sdk } = await this.ready();
    const command = new sdk.s3.GetObjectCommand({
      Bucket: this.settings.bucket,
      Key: key,
      ResponseContentDisposition: contentDisposition(opts.disposition, opts.fileName),
    });
    return sdk.presigner.getSignedUrl(client, command, {
      signingDate: new Date(opts.issuedAt * 1000),
      expiresIn: Math.max(1, opts.expiresAt - opts.issuedAt),
    });
  }

  close(): void {
    this.client?.destroy();
  }
}
