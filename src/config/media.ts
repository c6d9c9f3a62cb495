import type { Basics, EnvReader } from './readers.js';

export interface MediaConfig {
  storage: 'local' | 's3' | 'cloudinary';
  maxFileBytes: number;
  maxFiles: number;
  maxPixels: number;
  urlTtlS: number;
  /** MEDIA_URL_SECRET, which signs local media URLs; unset: derived from the JWT secret (see media/storage/local.ts). */
  urlSecret?: string | undefined;
  /** Set when storage is s3. */
  s3?: MediaS3Config | undefined;
  /** Set when storage is cloudinary. */
  cloudinary?: MediaCloudinaryConfig | undefined;
}

export interface MediaS3Config {
  bucket: string;
  region: string;
  /** For S3-compatible stores (MinIO, R2, …); unset: AWS. */
  endpoint: string | undefined;
  /** Both or neither; neither: the AWS SDK's default credential chain (environment, profile, instance role). */
  accessKeyId: string | undefined;
  secretAccessKey: string | undefined;
  forcePathStyle: boolean;
}

export interface MediaCloudinaryConfig {
  cloudName: string;
  apiKey: string;
  apiSecret: string;
  uploadPrefix: string;
}

const STORAGES: readonly string[] = ['local', 's3', 'cloudinary'] satisfies MediaConfig['storage'][];

/** `jwtSecret`: local media URLs are signed with it when MEDIA_URL_SECRET is not set. */
export function mediaConfig(read: EnvReader, { production }: Basics, jwtSecret: string | undefined): MediaConfig {
  const storage = read.str('MEDIA_STORAGE') ?? 'local';
  if (!STORAGES.includes(storage)) read.problems.push('MEDIA_STORAGE must be local, s3 or cloudinary');
  const urlSecret = read.str('MEDIA_URL_SECRET');
  if (urlSecret !== undefined && Buffer.byteLength(urlSecret) < 32) read.problems.push('MEDIA_URL_SECRET must be at least 32 bytes');
  if (storage === 'local' && production && !urlSecret && !jwtSecret) {
    read.problems.push(
      'MEDIA_URL_SECRET (at least 32 bytes) is required with MEDIA_STORAGE=local when NODE_ENV=production and JWT_SECRET is not set',
    );
  }
  const s3 = storage === 's3' ? s3Config(read) : undefined;
  const cloudinary = storage === 'cloudinary' ? cloudinaryConfig(read) : undefined;
  return {
    storage: storage as MediaConfig['storage'],
    maxFileBytes: read.int('MEDIA_MAX_FILE_BYTES', 26214400, 1, 2 ** 40),
    maxFiles: read.int('MEDIA_MAX_FILES', 10, 1, 100),
    maxPixels: read.int('MEDIA_MAX_PIXELS', 100_000_000, 1, 2 ** 40),
    urlTtlS: read.int('MEDIA_URL_TTL_S', 3600, 1, 7 * 24 * 3600),
    urlSecret,
    s3,
    cloudinary,
  };
}

function s3Config(read: EnvReader): MediaS3Config {
  const bucket = read.str('S3_BUCKET');
  if (!bucket) read.problems.push('S3_BUCKET is required with MEDIA_STORAGE=s3');
  const accessKeyId = read.str('S3_ACCESS_KEY_ID');
  const secretAccessKey = read.str('S3_SECRET_ACCESS_KEY');
  if (!accessKeyId !== !secretAccessKey) {
    read.problems.push('S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY go together (set neither to use the AWS default credential chain)');
  }
  return {
    bucket: bucket ?? '',
    region: read.str('S3_REGION') ?? 'us-east-1',
    endpoint: read.url('S3_ENDPOINT', ['http:', 'https:'])?.replace(/\/+$/, ''),
    accessKeyId,
    secretAccessKey,
    forcePathStyle: read.bool('S3_FORCE_PATH_STYLE', false),
  };
}

/** CLOUDINARY_URL (cloudinary://<api_key>:<api_secret>@<cloud_name>), or its three parts, which win over it. */
function cloudinaryConfig(read: EnvReader): MediaCloudinaryConfig {
  let fromUrl: { cloudName?: string; apiKey?: string; apiSecret?: string } = {};
  const raw = read.str('CLOUDINARY_URL');
  if (raw !== undefined) {
    const u = URL.canParse(raw) ? new URL(raw) : undefined;
    if (!u || u.protocol !== 'cloudinary:' || !u.hostname || !u.username || !u.password) {
      read.problems.push('CLOUDINARY_URL must look like cloudinary://<api_key>:<api_secret>@<cloud_name>');
    } else {
      fromUrl = { cloudName: u.hostname, apiKey: decodeURIComponent(u.username), apiSecret: decodeURIComponent(u.password) };
    }
  }
  const cloudName = read.str('CLOUDINARY_CLOUD_NAME') ?? fromUrl.cloudName;
  const apiKey = read.str('CLOUDINARY_API_KEY') ?? fromUrl.apiKey;
  const apiSecret = read.str('CLOUDINARY_API_SECRET') ?? fromUrl.apiSecret;
  const missing = [
    ...(cloudName ? [] : ['CLOUDINARY_CLOUD_NAME']),
    ...(apiKey ? [] : ['CLOUDINARY_API_KEY']),
    ...(apiSecret ? [] : ['CLOUDINARY_API_SECRET']),
  ];
  if (missing.length && raw === undefined) {
    read.problems.push(
      `MEDIA_STORAGE=cloudinary needs CLOUDINARY_URL, or CLOUDINARY_CLOUD_NAME, CLOUDINARY_API_KEY and CLOUDINARY_API_SECRET (missing: ${missing.join(', ')})`,
    );
  }
  return {
    cloudName: cloudName ?? '',
    apiKey: apiKey ?? '',
    apiSecret: apiSecret ?? '',
    uploadPrefix: (read.url('CLOUDINARY_UPLOAD_PREFIX', ['https:', 'http:']) ?? 'https://api.cloudinary.com').replace(/\/+$/, ''),
  };
}
