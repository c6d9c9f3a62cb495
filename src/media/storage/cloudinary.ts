import { Agent as HttpAgent } from 'node:http';
import type { UploadApiOptions, v2 } from 'cloudinary';
import type { MediaCloudinaryConfig } from '../../config.js';
import { typeOfKey } from '../media.types.js';
import type { MediaStorage, PutMeta, UrlOptions } from './storage.js';

/** Everything under one folder, so the chat's assets are easy to find (and to clean) in a shared account. */
const FOLDER = 'chat';

let sdk: Promise<typeof v2> | undefined;
// Only a deployment that stores media in Cloudinary loads its SDK.
const loadSdk = (): Promise<typeof v2> => (sdk ??= import('cloudinary').then((m) => m.v2));

/**
 * Cloudinary with `authenticated` delivery: nothing is readable without a signature. Reads use private download URLs
 * (signed, with `expires_at`), because Cloudinary's plain signed delivery URLs never expire. Images are image
 * resources, video and audio are video resources, documents are raw files.
 */
export class CloudinaryStorage implements MediaStorage {
  readonly driver = 'cloudinary';
  // The SDK picks https at load time; an http:// API origin (a local stand-in) needs a plain HTTP agent per call.
  private readonly agent: HttpAgent | undefined;

  /** settings.uploadPrefix: Cloudinary's API origin; another one only for a regional API, a proxy, or a local stand-in in tests. */
  constructor(private readonly settings: MediaCloudinaryConfig) {
    this.agent = settings.uploadPrefix.startsWith('http:') ? new HttpAgent({ keepAlive: true }) : undefined;
  }

  async prepare(): Promise<void> {
    await loadSdk();
  }

  /** Credentials go with every call rather than into the SDK's process-wide config, which other code may share. */
  private options(key: string) {
    const type = typeOfKey(key);
    const resourceType = !type || type.kind === 'document' ? 'raw' : type.kind === 'image' ? 'image' : 'video';
    const dot = key.lastIndexOf('.');
    // Raw files keep their extension in the public id; images and videos carry it as their format.
    const publicId = resourceType === 'raw' ? `${FOLDER}/${key}` : `${FOLDER}/${key.slice(0, dot)}`;
    const format = resourceType === 'raw' ? '' : key.slice(dot + 1);
    const common = {
      cloud_name: this.settings.cloudName,
      api_key: this.settings.apiKey,
      api_secret: this.settings.apiSecret,
      upload_prefix: this.settings.uploadPrefix,
      resource_type: resourceType,
      type: 'authenticated',
    } as const;
    return { publicId, format, common };
  }

  async put(key: string, path: string, _meta: PutMeta): Promise<void> {
    const { publicId, common } = this.options(key);
    const cloudinary = await loadSdk();
    await cloudinary.uploader.upload(path, {
      ...common,
      public_id: publicId,
      overwrite: true,
      ...(this.agent ? { agent: this.agent } : {}),
    } as UploadApiOptions);
  }

  async delete(key: string): Promise<void> {
    const { publicId, common } = this.options(key);
    const cloudinary = await loadSdk();
    // Answers { result: 'not found' } for a missing asset, which is what idempotent removal wants.
    await cloudinary.uploader.destroy(publicId, { ...common, invalidate: true, ...(this.agent ? { agent: this.agent } : {}) } as never);
  }

  async signedUrl(key: string, opts: UrlOptions): Promise<string> {
    const { publicId, format, common } = this.options(key);
    const cloudinary = await loadSdk();
    return cloudinary.utils.private_download_url(publicId, format, {
      ...common,
      expires_at: opts.expiresAt,
      timestamp: opts.issuedAt,
      ...(opts.disposition === 'attachment' ? { attachment: true } : {}),
    } as never);
  }

  close(): void {
    this.agent?.destroy();
  }
}
