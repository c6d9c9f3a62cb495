import { open, type FileHandle } from 'node:fs/promises';
import { MalformedFile, readAt, type Box } from './bmff.js';

/**
 * Removes where a video or voice memo was recorded from an MP4, QuickTime or M4A file, in place and without
 * re-encoding (no ffmpeg here). Phones write the position into the movie's metadata, never into the media data:
 * - `udta/©xyz` (an ISO 6709 string such as "+37.3318-122.0312/"; Android, older iPhones, most cameras),
 * - `udta/loci` (3GPP location information: a place name and fixed-point coordinates),
 * - `meta` with `keys` naming `com.apple.quicktime.location.*` and the matching `ilst` items (iPhones),
 * - `udta/XMP_` and the top-level XMP `uuid` box (XMP can hold exif:GPSLatitude/GPSLongitude),
 * at movie level (`moov/…`) and at track level (`moov/trak/…`).
 *
 * No box changes size or place, so chunk offsets (`stco`/`co64`) stay valid: a location box is renamed `free` (a
 * type every reader skips) and its payload zeroed; a location key's name is overwritten with spaces and its `ilst`
 * item freed the same way. Everything else is byte for byte as uploaded.
 *
 * Only the containers that hold these are walked (moov, trak, udta, meta, ilst), with positioned reads and writes, so a
 * 25 MB upload is never read whole. A damaged box tree never throws: a box cut off by the end of the file (a truncated
 * recording) is walked as far as it goes; when sizes disagree (a box overrunning a parent that ends before the file
 * does, a size smaller than its header, too many boxes, an unreadable `keys` table) the walk cannot know what it
 * missed, and `complete` is false.
 * Not covered: timed metadata tracks (a GoPro's GPMF, a drone's telemetry) whose positions are samples in `mdat`.
 */

export interface Patched {
  /** Byte ranges [start, end) that were overwritten. */
  ranges: Array<{ start: number; end: number }>;
  /** False when the box sizes disagree, so a location box may have been missed. */
  complete: boolean;
}

const LOCATION_BOXES = new Set(['\xa9xyz', 'loci', 'XMP_']);
/** `com.apple.quicktime.location.ISO6709`, `….location.accuracy.horizontal`, `….location.name` and the like. */
const LOCATION_KEY = /location|gps|iso6709|\xa9xyz/i;
const XMP_UUID = Buffer.from('be7acfcb97a942e89c71999491e3afac', 'hex');
const BOX_TYPE = /^[\x20-\x7e\xa9]{4}$/;
/** A hostile file of millions of 8-byte boxes must not cost millions of reads. */
const MAX_BOXES = 10_000;
/** A `keys` table is a few hundred bytes; a larger one is not read. */
const MAX_KEYS_BYTES = 1024 * 1024;
const ZEROS = Buffer.alloc(64 * 1024);

/** Strips the location metadata of the ISO BMFF file at `path`, in place. */
export async function stripMovieLocation(path: string): Promise<Patched> {
  const fh = await open(path, 'r+');
  try {
    const { size } = await fh.stat();
    const walker = new Walker(fh, size);
    try {
      await walker.file();
    } catch (err) {
      // Only a file that shrank under us reads short; everything else the walk bounds-checks itself.
      if (!(err instanceof MalformedFile)) throw err;
      walker.complete = false;
    }
    return { ranges: walker.ranges, complete: walker.complete };
  } finally {
    await fh.close();
  }
}

class Walker {
  ranges: Patched['ranges'] = [];
  complete = true;
  private seen = 0;

  constructor(
    private readonly fh: FileHandle,
    private readonly fileSize: number,
  ) {}

  async file(): Promise<void> {
    for (const box of await this.boxes(0, this.fileSize)) {
      if (box.type === 'moov') await this.container(box, ['trak', 'udta', 'meta']);
      else if (box.type === 'uuid' && (await this.isXmpUuid(box))) await this.free(box);
    }
  }

  /** moov and trak: their udta and meta children; a trak's own children are walked like the movie's. */
  private async container(parent: Box, wanted: string[]): Promise<void> {
    for (const box of await this.boxes(parent.body, parent.end)) {
      if (!wanted.includes(box.type)) continue;
      if (box.type === 'trak') await this.container(box, ['udta', 'meta']);
      else if (box.type === 'udta') await this.udta(box);
      else await this.meta(box);
    }
  }

  private async udta(udta: Box): Promise<void> {
    for (const box of await this.boxes(udta.body, udta.end)) {
      if (LOCATION_BOXES.has(box.type)) await this.free(box);
      else if (box.type === 'meta') await this.meta(box);
    }
  }

  /** keys + ilst (QuickTime metadata, items numbered by key) or ilst alone (iTunes-style, items named by type). */
  private async meta(meta: Box): Promise<void> {
    const children = await this.boxes(await this.metaChildrenStart(meta), meta.end);
    const keys = children.find((b) => b.type === 'keys');
    const located = keys ? await this.blankLocationKeys(keys) : new Set<number>();
    for (const ilst of children.filter((b) => b.type === 'ilst')) {
      for (const item of await this.boxes(ilst.body, ilst.end)) {
        const index = Buffer.from(item.type, 'latin1').readUInt32BE(0);
        if (located.has(index) || LOCATION_BOXES.has(item.type)) await this.free(item);
      }
    }
  }

  /**
   * ISO BMFF's meta is a full box (4 bytes of version and flags before its children); QuickTime's is a plain
   * container. A plain one starts with a child header: a size that fits and a printable type.
   */
  private async metaChildrenStart(meta: Box): Promise<number> {
    if (meta.end - meta.body < 8) return meta.body;
    const head = await readAt(this.fh, meta.body, 8);
    const size = head.readUInt32BE(0);
    const plain = size >= 8 && meta.body + size <= meta.end && BOX_TYPE.test(head.toString('latin1', 4, 8));
    return plain ? meta.body : meta.body + 4;
  }

  /** Overwrites the names of location keys with spaces; returns their 1-based indexes (the ilst item types). */
  private async blankLocationKeys(keys: Box): Promise<Set<number>> {
    const found = new Set<number>();
    const length = keys.end - keys.body;
    if (length > MAX_KEYS_BYTES) this.complete = false;
    if (length < 8 || length > MAX_KEYS_BYTES) return found;
    const b = await readAt(this.fh, keys.body, length);
    const count = b.readUInt32BE(4);
    let at = 8;
    for (let index = 1; index <= count && at + 8 <= b.length; index++) {
      const size = b.readUInt32BE(at);
      if (size < 8 || at + size > b.length) {
        this.complete = false;
        break;
      }
      if (LOCATION_KEY.test(b.toString('latin1', at + 8, at + size))) {
        found.add(index);
        await this.write(Buffer.alloc(size - 8, 0x20), keys.body + at + 8);
      }
      at += size;
    }
    return found;
  }

  private async isXmpUuid(box: Box): Promise<boolean> {
    return box.end - box.body >= 16 && (await readAt(this.fh, box.body, 16)).equals(XMP_UUID);
  }

  /** Renames the box `free` and zeroes its payload. */
  private async free(box: Box): Promise<void> {
    await this.write(Buffer.from('free', 'latin1'), box.start + 4);
    for (let at = box.body; at < box.end; at += ZEROS.length) {
      await this.write(ZEROS.subarray(0, Math.min(ZEROS.length, box.end - at)), at);
    }
  }

  private async write(bytes: Buffer, position: number): Promise<void> {
    await this.fh.write(bytes, 0, bytes.length, position);
    const last = this.ranges.at(-1);
    // Contiguous writes (a renamed header and its zeroed payload) are one range.
    if (last && last.end === position) last.end = position + bytes.length;
    else this.ranges.push({ start: position, end: position + bytes.length });
  }

  /**
   * The boxes between `from` and `to`, leniently: a box that overruns its parent is cut at the parent's end (a
   * truncated file), and a size too small to step over stops the walk there (where the next box starts is unknown).
   */
  private async boxes(from: number, to: number): Promise<Box[]> {
    const out: Box[] = [];
    let pos = from;
    while (pos + 8 <= to) {
      if (++this.seen > MAX_BOXES) {
        this.complete = false;
        break;
      }
      const head = await readAt(this.fh, pos, 8);
      let size = head.readUInt32BE(0);
      let header = 8;
      if (size === 1) {
        if (pos + 16 > to) break;
        const large = (await readAt(this.fh, pos + 8, 8)).readBigUInt64BE(0);
        // Beyond what a Number holds exactly is beyond the parent anyway: one past it marks the overrun.
        size = large > BigInt(to - pos) ? to - pos + 1 : Number(large);
        header = 16;
      } else if (size === 0) {
        size = to - pos;
      }
      if (size < header) {
        this.complete = false;
        break;
      }
      // Past the end of the file is a truncated recording: nothing there to miss. Past a parent that ends sooner, a size
      // is wrong and the boxes after this one may be inside it.
      if (pos + size > to && to < this.fileSize) this.complete = false;
      const end = Math.min(pos + size, to);
      out.push({ type: head.toString('latin1', 4, 8), start: pos, body: pos + header, end });
      pos = end;
    }
    return out;
  }
}
