import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { AppError } from '../src/errors.js';
import { detectType } from '../src/media/media.detect.js';
import { parseRange } from '../src/media/media.files.js';
import { contentDisposition, sanitiseFileName } from '../src/media/media.names.js';
import { declaredAgrees, mediaType } from '../src/media/media.types.js';
import { createStorage, LocalStorage } from '../src/media/storage/index.js';
import * as fx from './media-fixtures.js';

const type = (mime: string) => mediaType(mime)!;

describe('file names', () => {
  it.each([
    ['../../etc/passwd.png', 'passwd.png'],
    ['C:\\Users\\me\\Desktop\\photo.jpg', 'photo.jpg'],
    ['/absolute/path/report.pdf', 'report.pdf'],
    ['tab\there\u0000nul\u001b.txt', 'tabherenul.txt'],
    ['bidi\u202Egnp.exe', 'bidignp.exe'],
    ['..', 'file'],
    ['', 'file'],
    ['   .hidden   ', 'hidden'],
    ['dir/', 'file'],
    ['naïve café.txt', 'naïve café.txt'],
  ])('%j → %j', (raw, expected) => expect(sanitiseFileName(raw)).toBe(expected));

  it('bounds the length at 200 code points and keeps the extension', () => {
    const name = sanitiseFileName(`${'🙂'.repeat(300)}.pdf`);
    expect([...name]).toHaveLength(200);
    expect(name.endsWith('.pdf')).toBe(true);
  });

  it('appends the detected type’s extension when the name does not fit it', () => {
    expect(sanitiseFileName('notes.txt', type('text/plain'))).toBe('notes.txt');
    expect(sanitiseFileName('run.bat', type('text/plain'))).toBe('run.bat.txt');
    expect(sanitiseFileName('page.html', type('text/plain'))).toBe('page.html.txt');
    expect(sanitiseFileName('photo.exe', type('image/png'))).toBe('photo.exe.png');
    expect(sanitiseFileName('IMG.JPEG', type('image/jpeg'))).toBe('IMG.JPEG');
    expect(sanitiseFileName('', type('application/pdf'))).toBe('file.pdf');
  });

  it('puts any name in Content-Disposition safely: ASCII fallback plus the exact UTF-8 name', () => {
    expect(contentDisposition('attachment', 'résumé "final" 100%.pdf')).toBe(
      `attachment; filename="r_sum_ _final_ 100_.pdf"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%22final%22%20100%25.pdf`,
    );
  });
});

describe('declared types', () => {
  it('accepts the usual names of a container and "unknown", and nothing else', () => {
    expect(declaredAgrees('audio/x-wav', type('audio/wav'))).toBe(true);
    expect(declaredAgrees('video/webm', type('audio/webm'))).toBe(true);
    expect(declaredAgrees('audio/x-m4a', type('audio/mp4'))).toBe(true);
    expect(declaredAgrees('Image/JPEG; charset=binary', type('image/jpeg'))).toBe(true);
    expect(declaredAgrees('application/octet-stream', type('application/pdf'))).toBe(true);
    expect(declaredAgrees('', type('image/png'))).toBe(true);
    expect(declaredAgrees('text/markdown', type('text/plain'))).toBe(true);
    expect(declaredAgrees('image/png', type('image/jpeg'))).toBe(false);
    expect(declaredAgrees('application/pdf', type('text/plain'))).toBe(false);
    expect(declaredAgrees('video/quicktime', type('video/mp4'))).toBe(false);
  });
});

describe('detection by content', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'chat-detect-'));
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  const detect = async (data: Buffer, declared = 'application/octet-stream') => {
    const file = path.join(dir, `f${Math.random()}`);
    await writeFile(file, data);
    return detectType(file, declared, '"f"').then(
      (t) => t.mime,
      (e: AppError) => e.code,
    );
  };

  it('tells text from binary: UTF-8 with a BOM or ANSI colours is text; NULs and broken UTF-8 are not', async () => {
    expect(await detect(Buffer.from('\ufeffhello\r\n'))).toBe('text/plain');
    expect(await detect(Buffer.from('\u001b[31mred\u001b[0m log line\n'))).toBe('text/plain');
    // "MZ" at the start is a Windows executable's signature, but these bytes are clean text.
    expect(await detect(Buffer.from('MZ is the first line of this note\n'))).toBe('text/plain');
    expect(await detect(Buffer.from('<?xml version="1.0"?><a/>'), 'application/xml')).toBe('text/plain');
    expect(await detect(Buffer.from([0x68, 0x69, 0x00, 0x21]))).toBe('UNSUPPORTED_MEDIA_TYPE');
    expect(await detect(Buffer.from([0x68, 0xc3, 0x28]))).toBe('UNSUPPORTED_MEDIA_TYPE');
  });

  it('maps containers to the allowlist: M4A is audio/mp4, legacy Office by its streams', async () => {
    expect(await detect(fx.isoMovie({ brand: 'M4A ', tracks: ['soun'] }))).toBe('audio/mp4');
    expect(await detect(fx.cfb(['PowerPoint Document']))).toBe('application/vnd.ms-powerpoint');
    expect(await detect(fx.cfb(['Book']))).toBe('application/vnd.ms-excel');
    expect(await detect(fx.cfb([]))).toBe('UNSUPPORTED_MEDIA_TYPE');
    expect(await detect(fx.isoMovie({ brand: '3gp4' }))).toBe('UNSUPPORTED_MEDIA_TYPE');
  });
});

describe('byte ranges', () => {
  it.each([
    [undefined, null],
    ['bytes=0-9', { start: 0, end: 9 }],
    ['bytes=90-', { start: 90, end: 99 }],
    ['bytes=-10', { start: 90, end: 99 }],
    ['bytes=-500', { start: 0, end: 99 }],
    ['bytes=50-500', { start: 50, end: 99 }],
    ['bytes=100-', 'unsatisfiable'],
    ['bytes=9-3', 'unsatisfiable'],
    ['bytes=0-1,5-6', null],
    ['items=0-1', null],
  ] as const)('%s of 100 bytes', (header, expected) => expect(parseRange(header, 100)).toEqual(expected));
});

describe('media settings', () => {
  const dirs: string[] = [];
  const dir = () => {
    dirs.push(mkdtempSync(path.join(tmpdir(), 'chat-media-config-')));
    return dirs.at(-1)!;
  };
  afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));
  const problems = (env: Record<string, string>): string[] => {
    try {
      loadConfig({ DATA_DIR: dir(), ...env });
      return [];
    } catch (err) {
      if (err instanceof ConfigError) return err.problems;
      throw err;
    }
  };

  it('needs S3_BUCKET for s3, and the key id with its secret', () => {
    expect(problems({ MEDIA_STORAGE: 's3' })).toEqual(['S3_BUCKET is required with MEDIA_STORAGE=s3']);
    expect(problems({ MEDIA_STORAGE: 's3', S3_BUCKET: 'b', S3_ACCESS_KEY_ID: 'k' }).join()).toMatch(
      /S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY go together/,
    );
    expect(problems({ MEDIA_STORAGE: 's3', S3_BUCKET: 'b', S3_FORCE_PATH_STYLE: 'maybe' }).join()).toMatch(
      /S3_FORCE_PATH_STYLE must be true or false/,
    );
    expect(problems({ MEDIA_STORAGE: 's3', S3_BUCKET: 'b', S3_ENDPOINT: 'ftp://x' }).join()).toMatch(/S3_ENDPOINT must use/);
    const config = loadConfig({
      DATA_DIR: dir(),
      MEDIA_STORAGE: 's3',
      S3_BUCKET: 'b',
      S3_ENDPOINT: 'http://127.0.0.1:9000/',
      S3_FORCE_PATH_STYLE: 'true',
    });
    expect(config.media.s3).toEqual({
      bucket: 'b',
      region: 'us-east-1',
      endpoint: 'http://127.0.0.1:9000',
      accessKeyId: undefined,
      secretAccessKey: undefined,
      forcePathStyle: true,
    });
    expect(config.media.cloudinary).toBeUndefined();
  });

  it('reads Cloudinary from CLOUDINARY_URL or its three parts', () => {
    expect(problems({ MEDIA_STORAGE: 'cloudinary' }).join()).toMatch(
      /needs CLOUDINARY_URL, or CLOUDINARY_CLOUD_NAME, CLOUDINARY_API_KEY and CLOUDINARY_API_SECRET/,
    );
    expect(problems({ MEDIA_STORAGE: 'cloudinary', CLOUDINARY_URL: 'https://x' }).join()).toMatch(/CLOUDINARY_URL must look like/);
    const fromUrl = loadConfig({ DATA_DIR: dir(), MEDIA_STORAGE: 'cloudinary', CLOUDINARY_URL: 'cloudinary://123:s%2Fecret@my-cloud' });
    expect(fromUrl.media.cloudinary).toEqual({
      cloudName: 'my-cloud',
      apiKey: '123',
      apiSecret: 's/ecret',
      uploadPrefix: 'https://api.cloudinary.com',
    });
    const parts = loadConfig({
      DATA_DIR: dir(),
      MEDIA_STORAGE: 'cloudinary',
      CLOUDINARY_CLOUD_NAME: 'c',
      CLOUDINARY_API_KEY: 'k',
      CLOUDINARY_API_SECRET: 's',
      CLOUDINARY_UPLOAD_PREFIX: 'https://api-eu.cloudinary.com/',
    });
    expect(parts.media.cloudinary).toEqual({ cloudName: 'c', apiKey: 'k', apiSecret: 's', uploadPrefix: 'https://api-eu.cloudinary.com' });
  });

  it('needs a URL signing secret for local media in production when there is no JWT_SECRET to derive it from', () => {
    const pem = '-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----';
    expect(problems({ NODE_ENV: 'production', JWT_PUBLIC_KEY: pem }).join()).toMatch(
      /MEDIA_URL_SECRET .* is required with MEDIA_STORAGE=local/,
    );
    expect(problems({ NODE_ENV: 'production', JWT_PUBLIC_KEY: pem, MEDIA_URL_SECRET: 'short' }).join()).toMatch(
      /MEDIA_URL_SECRET must be at least 32 bytes/,
    );
    expect(problems({ NODE_ENV: 'production', JWT_PUBLIC_KEY: pem, MEDIA_URL_SECRET: 'm'.repeat(32) })).toEqual([]);
    expect(problems({ NODE_ENV: 'production', JWT_SECRET: 'j'.repeat(32) })).toEqual([]);
  });

  it('signs local URLs with a key that survives restarts and differs from the JWT secret', async () => {
    const url = async (env: Record<string, string>) => {
      const storage = createStorage(loadConfig(env)) as LocalStorage;
      return storage.signedUrl('a/b.png', { issuedAt: 0, expiresAt: 100, disposition: 'inline', fileName: 'b.png' });
    };
    const jwt = { JWT_SECRET: 'j'.repeat(32) };
    expect(await url({ DATA_DIR: dir(), ...jwt })).toBe(await url({ DATA_DIR: dir(), ...jwt }));
    expect(await url({ DATA_DIR: dir(), ...jwt })).not.toBe(await url({ DATA_DIR: dir(), JWT_SECRET: 'k'.repeat(32) }));
    expect(await url({ DATA_DIR: dir(), ...jwt, MEDIA_URL_SECRET: 'm'.repeat(32) })).not.toBe(await url({ DATA_DIR: dir(), ...jwt }));
    const pem = { JWT_PUBLIC_KEY: '-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----' };
    const generated = dir();
    expect(await url({ DATA_DIR: generated, ...pem })).toBe(await url({ DATA_DIR: generated, ...pem }));
  });
});
