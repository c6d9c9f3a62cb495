import { open, stat } from 'node:fs/promises';
import type { FormatEnum, Metadata } from 'sharp';
import { AppError } from '../errors.js';
import { movieInfo } from './bmff.js';
import { scrubHeif } from './heif.js';
import { mediaType, type MediaType } from './media.types.js';
import { stripMovieLocation } from './strip-location.js';
import { stripId3Location, stripOggLocation, stripWebmLocation } from './strip-tags.js';

/**
 * sharp (libvips) and music-metadata load on the first upload that needs them, not at start: together they were a
 * fifth of the time to import the service, which most starts never use before the first upload.
 */
let sharpModule: Promise<typeof import('sharp').default> | undefined;
const loadSharp = () =>
  (sharpModule ??= import('sharp').then(({ default: sharp }) => {
    // Temp files are deleted right after processing; libvips must not keep them open in its file cache.
    sharp.cache({ files: 0 });
    return sharp;
  }));
let audioModule: Promise<typeof import('music-metadata')> | undefined;
const loadAudioParser = () => (audioModule ??= import('music-metadata'));

const THUMBNAIL_SIZE = 320;
const MAX_INT = 2 ** 31 - 1;

export interface Processed {
  /** The detected type, refined by the container's tracks (an MP4 or WebM with sound only is audio). */
  type: MediaType;
  /** The file to store: the upload itself, or a cleaned copy of it. */
  path: string;
  size: number;
  width: number | null;
  height: number | null;
  durationMs: number | null;
  /** A WebP thumbnail, for images sharp can decode. */
  thumbnailPath: string | null;
}

export interface ProcessOptions {
  maxPixels: number;
  /** A fresh temp file path. */
  tempPath(): string;
}

const tooLarge = (label: string, pixels: number, max: number) =>
  new AppError('PAYLOAD_TOO_LARGE', `${label}: the image has ${pixels} pixels, more than the limit of ${max}`);

const isPixelLimit = (err: unknown) => err instanceof Error && /pixel limit/i.test(err.message);

const ENCODERS: Partial<Record<string, { format: keyof FormatEnum; options: object }>> = {
  'image/jpeg': { format: 'jpeg', options: { quality: 90 } },
  'image/png': { format: 'png', options: {} },
  'image/webp': { format: 'webp', options: { quality: 90 } },
  'image/gif': { format: 'gif', options: {} },
};

export async function processFile(type: MediaType, path: string, label: string, opts: ProcessOptions): Promise<Processed> {
  const size = (await stat(path)).size;
  const base: Processed = { type, path, size, width: null, height: null, durationMs: null, thumbnailPath: null };
  if (ENCODERS[type.mime]) return processImage(base, label, opts);
  if (type.kind === 'image') return processHeif(base, label, opts);
  if (type.mime === 'video/mp4' || type.mime === 'video/quicktime' || type.mime === 'audio/mp4') return processMovie(base, label);
  if (type.kind === 'video' || type.kind === 'audio') return processAudio(base, label);
  return base;
}

/**
 * Decoded and encoded again in the same format: orientation applied, every metadata block (EXIF with its GPS
 * position, XMP, IPTC, ICC) left behind. The header is read first, so a pixel bomb is refused before decoding.
 */
async function processImage(p: Processed, label: string, opts: ProcessOptions): Promise<Processed> {
  const animated = p.type.mime === 'image/gif' || p.type.mime === 'image/webp';
  const input = { limitInputPixels: opts.maxPixels, failOn: 'error' as const, animated };
  const sharp = await loadSharp();
  let meta: Metadata;
  try {
    meta = await sharp(p.path, { ...input, limitInputPixels: false }).metadata();
  } catch {
    throw new AppError('UNSUPPORTED_MEDIA_TYPE', `${label}: the image cannot be read`);
  }
  const frameHeight = meta.pageHeight ?? meta.height;
  const pixels = meta.width * frameHeight * (meta.pages ?? 1);
  if (pixels > opts.maxPixels) throw tooLarge(label, pixels, opts.maxPixels);

  const { format, options } = ENCODERS[p.type.mime]!;
  const out = opts.tempPath();
  try {
    await sharp(p.path, input).autoOrient().toFormat(format, options).toFile(out);
  } catch (err) {
    if (isPixelLimit(err)) throw tooLarge(label, pixels, opts.maxPixels);
    throw new AppError('UNSUPPORTED_MEDIA_TYPE', `${label}: the image cannot be decoded`);
  }
  const stored = await sharp(out, { animated }).metadata();
  return {
    ...p,
    path: out,
    size: (await stat(out)).size,
    width: stored.width,
    height: stored.pageHeight ?? stored.height,
    thumbnailPath: await thumbnail(out, opts),
  };
}

/** HEIC cannot be re-encoded here (see heif.ts): its metadata items are zeroed in place and its size read from the header. */
async function processHeif(p: Processed, label: string, opts: ProcessOptions): Promise<Processed> {
  let info;
  try {
    info = await scrubHeif(p.path);
  } catch {
    throw new AppError('UNSUPPORTED_MEDIA_TYPE', `${label}: the HEIF image cannot be read`);
  }
  if (info.width && info.height && info.width * info.height > opts.maxPixels) {
    throw tooLarge(label, info.width * info.height, opts.maxPixels);
  }
  // sharp decodes AVIF-coded HEIF here, and HEVC-coded HEIC wherever libvips was built with an HEVC decoder.
  const thumb = await thumbnail(p.path, opts).catch(() => null);
  return { ...p, width: info.width, height: info.height, thumbnailPath: thumb };
}

async function thumbnail(path: string, opts: ProcessOptions): Promise<string> {
  const out = opts.tempPath();
  const sharp = await loadSharp();
  await sharp(path, { limitInputPixels: opts.maxPixels, failOn: 'error' })
    .autoOrient()
    .resize(THUMBNAIL_SIZE, THUMBNAIL_SIZE, { fit: 'inside', withoutEnlargement: true })
    .webp({ quality: 70 })
    .toFile(out);
  return out;
}

// Zero is what a fragmented MP4 or a live WebM recording says when it does not know: unknown, not "empty".
const duration = (ms: number | null | undefined): number | null =>
  typeof ms === 'number' && Number.isFinite(ms) && ms > 0 && ms <= MAX_INT ? Math.round(ms) : null;
const dimension = (n: number | null | undefined): number | null => (typeof n === 'number' && n > 0 && n <= MAX_INT ? n : null);

/**
 * MP4, QuickTime and M4A: where it was recorded is blanked in place first (strip-location.ts), so every storage
 * driver receives the stripped file; then the movie header gives the duration and the track handlers tell video
 * from sound only.
 */
async function processMovie(p: Processed, label: string): Promise<Processed> {
  // Refused rather than stored with a position we may have missed: a player would stumble on these sizes too.
  if (!(await stripMovieLocation(p.path)).complete) {
    throw new AppError('UNSUPPORTED_MEDIA_TYPE', `${label}: the movie's metadata is damaged, so where it was recorded cannot be removed`);
  }
  const fh = await open(p.path, 'r');
  try {
    const info = await movieInfo(fh, p.size);
    const audioOnly = !info.hasVideo && info.hasAudio;
    const type = p.type.mime === 'video/mp4' && audioOnly ? mediaType('audio/mp4')! : p.type;
    const visual = type.kind === 'video';
    return {
      ...p,
      type,
      durationMs: duration(info.durationMs),
      width: visual ? dimension(info.width) : null,
      height: visual ? dimension(info.height) : null,
    };
  } catch {
    // A container we cannot walk is still the type its signature says; it just has no duration.
    return p;
  } finally {
    await fh.close();
  }
}

/**
 * MP3 (Xing header or frame count), AAC, Ogg (last granule), WAV (header) and WebM/Matroska (Info/Duration). A
 * position a converter copied into WebM tags, ID3 frames or Vorbis comments is blanked first (strip-tags.ts).
 */
async function processAudio(p: Processed, label: string): Promise<Processed> {
  if (p.type.mime === 'video/webm' || p.type.mime === 'audio/webm') await stripWebmLocation(p.path);
  else if (p.type.mime === 'audio/mpeg' || p.type.mime === 'audio/aac') await stripId3Location(p.path);
  else if (p.type.mime === 'audio/ogg') await stripOggLocation(p.path);
  const { parseFile } = await loadAudioParser();
  const format = await parseFile(p.path, { duration: true, skipCovers: true }).then(
    (m) => m.format,
    () => undefined,
  );
  // MP3's signature is two bytes (a frame sync), which other files start with too (a UTF-16 text's byte order mark):
  // an MP3 must also have frames to count.
  if (p.type.mime === 'audio/mpeg' && !(format?.duration && format.duration > 0)) {
    throw new AppError('UNSUPPORTED_MEDIA_TYPE', `${label}: no MPEG audio frames found`);
  }
  // Other signatures are strong; a stream the parser cannot follow is still that type, just without a duration.
  if (!format) return p;
  const ms = format.duration === undefined ? null : format.duration * 1000;
  let type = p.type;
  if (type.mime === 'video/webm' && format.hasVideo === false && format.hasAudio) type = mediaType('audio/webm')!;
  const video = format.trackInfo.find((t) => t.video)?.video;
  const visual = type.kind === 'video';
  return {
    ...p,
    type,
    durationMs: duration(ms),
    width: visual ? dimension(video?.pixelWidth) : null,
    height: visual ? dimension(video?.pixelHeight) : null,
  };
}
