import type { FileHandle } from 'node:fs/promises';

/**
 * A reader for ISO base media files (MP4, QuickTime, M4A, HEIF) that reads only the headers it needs, wherever they
 * sit in the file: the movie header of a video and the item tables of a HEIF image, never the media data.
 */

export interface Box {
  type: string;
  /** Offset of the box in the file. */
  start: number;
  /** Offset of the payload (after the size/type header). */
  body: number;
  /** Offset just past the box. */
  end: number;
}

export class MalformedFile extends Error {}

/** Boxes we read whole are small tables; anything larger is not a file we want to spend memory on. */
const MAX_BOX_READ = 4 * 1024 * 1024;
const MAX_BOXES = 10_000;

export async function readAt(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  const { bytesRead } = await fh.read(buf, 0, length, position);
  if (bytesRead < length) throw new MalformedFile('unexpected end of file');
  return buf;
}

/** The boxes between `from` and `to`, in order. */
export async function children(fh: FileHandle, from: number, to: number): Promise<Box[]> {
  const out: Box[] = [];
  let pos = from;
  while (pos + 8 <= to) {
    if (out.length >= MAX_BOXES) throw new MalformedFile('too many boxes');
    const head = await readAt(fh, pos, 8);
    let size = head.readUInt32BE(0);
    const type = head.toString('latin1', 4, 8);
    let headerSize = 8;
    if (size === 1) {
      size = Number((await readAt(fh, pos + 8, 8)).readBigUInt64BE(0));
      headerSize = 16;
    } else if (size === 0) {
      size = to - pos;
    }
    if (size < headerSize || pos + size > to) throw new MalformedFile(`box ${type} overruns its parent`);
    out.push({ type, start: pos, body: pos + headerSize, end: pos + size });
    pos += size;
  }
  return out;
}

export async function payload(fh: FileHandle, box: Box): Promise<Buffer> {
  const length = box.end - box.body;
  if (length > MAX_BOX_READ) throw new MalformedFile(`box ${box.type} is too large`);
  return readAt(fh, box.body, length);
}

export const find = (boxes: Box[], type: string): Box | undefined => boxes.find((b) => b.type === type);

export interface MovieInfo {
  durationMs: number | null;
  hasVideo: boolean;
  hasAudio: boolean;
  width: number | null;
  height: number | null;
}

/** Duration from the movie header (mvhd), track kinds from each track's handler, size from the first video track. */
export async function movieInfo(fh: FileHandle, fileSize: number): Promise<MovieInfo> {
  const info: MovieInfo = { durationMs: null, hasVideo: false, hasAudio: false, width: null, height: null };
  const moov = find(await children(fh, 0, fileSize), 'moov');
  if (!moov) return info;
  for (const child of await children(fh, moov.body, moov.end)) {
    if (child.type === 'mvhd') {
      const b = await payload(fh, child);
      const v1 = b[0] === 1;
      const timescale = v1 ? b.readUInt32BE(20) : b.readUInt32BE(12);
      const duration = v1 ? Number(b.readBigUInt64BE(24)) : b.readUInt32BE(16);
      // An all-ones duration means "unknown" (e.g. a fragmented recording still being written).
      const unknown = v1 ? duration >= Number.MAX_SAFE_INTEGER : duration === 0xffffffff;
      if (timescale > 0 && !unknown) info.durationMs = Math.round((duration * 1000) / timescale);
    } else if (child.type === 'trak') {
      const trak = await children(fh, child.body, child.end);
      const mdia = find(trak, 'mdia');
      const hdlr = mdia && find(await children(fh, mdia.body, mdia.end), 'hdlr');
      const handler = hdlr ? (await payload(fh, hdlr)).toString('latin1', 8, 12) : '';
      if (handler === 'soun') info.hasAudio = true;
      if (handler !== 'vide') continue;
      info.hasVideo = true;
      const tkhd = find(trak, 'tkhd');
      if (tkhd && info.width === null) {
        const b = await payload(fh, tkhd);
        const at = b[0] === 1 ? 88 : 76;
        if (b.length >= at + 8) {
          info.width = Math.round(b.readUInt32BE(at) / 65536) || null;
          info.height = Math.round(b.readUInt32BE(at + 4) / 65536) || null;
        }
      }
    }
  }
  return info;
}
