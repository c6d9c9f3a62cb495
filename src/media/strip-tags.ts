import { open, type FileHandle } from 'node:fs/promises';

/**
 * Location in tag formats that phones never write but converters copy: ffmpeg turns a phone video's position
 * ("location", "com.apple.quicktime.location.ISO6709") into a Matroska/WebM SimpleTag and an MP3 ID3 TXXX frame. The
 * value is blanked in place (sizes kept, so nothing else moves); the tag's name stays, saying nothing on its own.
 * Ogg's Vorbis comments (Opus and Vorbis) likewise, with the CRC of each page touched computed again.
 * Best effort and lenient: a tag we cannot follow is left alone, and nothing here throws on a damaged file.
 * Not touched: WAV (LIST/INFO and bext have no location field) and raw AAC (ADTS has no metadata; an ID3 tag in front
 * of it is handled as for MP3).
 */

/** Tag names (Matroska) and TXXX descriptions (ID3) that hold a position. */
const LOCATION_NAME = /location|gps|iso6709|\xa9xyz|latitude|longitude|coordinates/i;
const MAX_ELEMENTS = 10_000;
/** A tag value is a short string; a larger one is not read. */
const MAX_VALUE_BYTES = 64 * 1024;

async function readSome(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(Math.max(0, length));
  const { bytesRead } = await fh.read(buf, 0, buf.length, position);
  return buf.subarray(0, bytesRead);
}

async function withFile(path: string, fn: (fh: FileHandle, size: number) => Promise<number>): Promise<number> {
  const fh = await open(path, 'r+');
  try {
    return await fn(fh, (await fh.stat()).size);
  } finally {
    await fh.close();
  }
}

// ---- WebM / Matroska (EBML)

const SEGMENT = 0x18538067;
const SEEK_HEAD = 0x114d9b74;
const TAGS = 0x1254c367;
const TAG = 0x7373;
const SIMPLE_TAG = 0x67c8;
const TAG_NAME = 0x45a3;
const TAG_STRING = 0x4487;
const TAG_BINARY = 0x4485;

interface Element {
  id: number;
  start: number;
  body: number;
  end: number;
  unknownSize: boolean;
}

const vintLength = (first: number): number => (first === 0 ? 0 : 8 - Math.floor(Math.log2(first)));

/** Blanks the values of location SimpleTags in a WebM/Matroska file; returns how many. */
export function stripWebmLocation(path: string): Promise<number> {
  return withFile(path, (fh, size) => new Ebml(fh).strip(size));
}

class Ebml {
  private seen = 0;
  private blanked = 0;

  constructor(private readonly fh: FileHandle) {}

  async strip(size: number): Promise<number> {
    const segment = (await this.children(0, size)).find((e) => e.id === SEGMENT);
    if (!segment) return 0;
    const top = await this.children(segment.body, segment.end);
    const tags = top.filter((e) => e.id === TAGS).map((e) => e.start);
    // Tags usually sit after the clusters, which a live recording leaves unsized: the SeekHead says where.
    for (const head of top.filter((e) => e.id === SEEK_HEAD)) tags.push(...(await this.seekTargets(head, segment.body)));
    for (const at of new Set(tags)) {
      const el = await this.element(at, segment.end);
      if (el?.id !== TAGS) continue;
      for (const tag of await this.children(el.body, el.end)) {
        if (tag.id !== TAG) continue;
        for (const simple of await this.children(tag.body, tag.end)) if (simple.id === SIMPLE_TAG) await this.simpleTag(simple, 0);
      }
    }
    return this.blanked;
  }

  private async seekTargets(head: Element, origin: number): Promise<number[]> {
    const out: number[] = [];
    for (const seek of await this.children(head.body, head.end)) {
      const fields = await this.children(seek.body, seek.end);
      const id = fields.find((f) => f.id === 0x53ab);
      const position = fields.find((f) => f.id === 0x53ac);
      if (!id || id.end - id.body !== 4 || !position || position.end - position.body > 6) continue;
      if ((await readSome(this.fh, id.body, 4)).readUIntBE(0, 4) !== TAGS) continue;
      const p = await readSome(this.fh, position.body, position.end - position.body);
      if (p.length > 0 && p.length <= 6) out.push(origin + p.readUIntBE(0, p.length));
    }
    return out;
  }

  private async simpleTag(simple: Element, depth: number): Promise<void> {
    const fields = await this.children(simple.body, simple.end);
    const name = fields.find((f) => f.id === TAG_NAME);
    const nameText =
      name && name.end - name.body <= 1024 ? (await readSome(this.fh, name.body, name.end - name.body)).toString('utf8') : '';
    if (LOCATION_NAME.test(nameText)) {
      for (const value of fields.filter((f) => f.id === TAG_STRING || f.id === TAG_BINARY)) {
        await this.fh.write(
          Buffer.alloc(value.end - value.body, value.id === TAG_STRING ? 0x20 : 0),
          0,
          value.end - value.body,
          value.body,
        );
        this.blanked++;
      }
    }
    if (depth < 8) for (const nested of fields.filter((f) => f.id === SIMPLE_TAG)) await this.simpleTag(nested, depth + 1);
  }

  /** One element header at `pos`, or null where none can be read. A size past `limit` is cut there (a truncated file). */
  private async element(pos: number, limit: number): Promise<Element | null> {
    const head = await readSome(this.fh, pos, Math.min(12, limit - pos));
    const idLength = head.length > 0 ? vintLength(head[0]!) : 0;
    if (idLength === 0 || idLength > 4 || idLength >= head.length) return null;
    const sizeLength = vintLength(head[idLength]!);
    if (sizeLength === 0 || idLength + sizeLength > head.length) return null;
    let size = head[idLength]! & (0xff >> sizeLength);
    let allOnes = size === 0xff >> sizeLength;
    for (let i = 1; i < sizeLength; i++) {
      size = size * 256 + head[idLength + i]!;
      allOnes &&= head[idLength + i] === 0xff;
    }
    const body = pos + idLength + sizeLength;
    const id = head.readUIntBE(0, idLength);
    if (allOnes) return { id, start: pos, body, end: limit, unknownSize: true };
    return { id, start: pos, body, end: Math.min(body + size, limit), unknownSize: false };
  }

  /** The elements between `from` and `to`; an element of unknown size (a live cluster) ends the list. */
  private async children(from: number, to: number): Promise<Element[]> {
    const out: Element[] = [];
    for (let pos = from; pos < to && ++this.seen <= MAX_ELEMENTS;) {
      const el = await this.element(pos, to);
      if (!el) break;
      out.push(el);
      if (el.unknownSize || el.end <= pos) break;
      pos = el.end;
    }
    return out;
  }
}

// ---- ID3v2 (MP3, and AAC with a tag in front)

const synchsafe = (b: Buffer, at: number) => (b[at]! << 21) | (b[at + 1]! << 14) | (b[at + 2]! << 7) | b[at + 3]!;

/** Zeroes the values of ID3v2 TXXX frames whose description names a position; returns how many. */
export function stripId3Location(path: string): Promise<number> {
  return withFile(path, async (fh, fileSize) => {
    const head = await readSome(fh, 0, 10);
    if (head.length < 10 || head.toString('latin1', 0, 3) !== 'ID3') return 0;
    const major = head[3]!;
    // A whole-tag unsynchronised v2.2/2.3 tag stores frames with stuffed bytes: rare, and left alone.
    if (major < 2 || major > 4 || (major < 4 && head[5]! & 0x80)) return 0;
    const end = Math.min(10 + synchsafe(head, 6), fileSize);
    let pos = 10;
    if (head[5]! & 0x40 && major > 2) {
      const ext = await readSome(fh, pos, 4);
      if (ext.length < 4) return 0;
      pos += major === 4 ? synchsafe(ext, 0) : 4 + ext.readUInt32BE(0);
    }
    let blanked = 0;
    const headerSize = major === 2 ? 6 : 10;
    for (let frames = 0; pos + headerSize <= end && frames < MAX_ELEMENTS; frames++) {
      const h = await readSome(fh, pos, headerSize);
      if (h.length < headerSize || h[0] === 0) break; // padding
      const id = h.toString('latin1', 0, major === 2 ? 3 : 4);
      const size = major === 2 ? h.readUIntBE(3, 3) : major === 4 ? synchsafe(h, 4) : h.readUInt32BE(4);
      // v2.3: compressed, encrypted, grouped; v2.4: grouped, compressed, encrypted, unsynchronised, data length.
      const transformed = major === 3 ? (h[9]! & 0xe0) !== 0 : major === 4 ? (h[9]! & 0x4f) !== 0 : false;
      const body = pos + headerSize;
      if (body + size > end) break;
      if ((id === 'TXXX' || id === 'TXX') && !transformed && size > 1 && size <= MAX_VALUE_BYTES) {
        const frame = await readSome(fh, body, size);
        const valueAt = txxxValueOffset(frame);
        if (valueAt !== null && LOCATION_NAME.test(decodeText(frame[0]!, frame.subarray(1, valueAt)))) {
          await fh.write(Buffer.alloc(size - valueAt), 0, size - valueAt, body + valueAt);
          blanked++;
        }
      }
      pos = body + size;
    }
    return blanked;
  });
}

/** ID3 text encodings: 0 Latin-1, 1 UTF-16 with a byte order mark, 2 UTF-16BE, 3 UTF-8. */
function decodeText(encoding: number, bytes: Buffer): string {
  if (encoding === 0) return bytes.toString('latin1');
  if (encoding === 3) return bytes.toString('utf8');
  const bigEndian = encoding === 2 || (bytes[0] === 0xfe && bytes[1] === 0xff);
  const even = Buffer.from(bytes.subarray(0, bytes.length & ~1));
  return (bigEndian ? even.swap16() : even).toString('utf16le').replace(/^\ufeff/, '');
}

/** Where a TXXX frame's value starts: after the encoding byte and the terminated description. */
function txxxValueOffset(frame: Buffer): number | null {
  const wide = frame[0] === 1 || frame[0] === 2;
  for (let i = 1; i + (wide ? 1 : 0) < frame.length; i += wide ? 2 : 1) {
    if (frame[i] === 0 && (!wide || frame[i + 1] === 0)) return i + (wide ? 2 : 1);
  }
  return null;
}

// ---- Ogg: the comment header (the second packet of the first stream) of Opus and Vorbis

/** Cover art travels in comments too; a comment packet larger than this is left alone. */
const MAX_COMMENT_BYTES = 4 * 1024 * 1024;
const MAX_PAGES = 4096;

/** Where a run of the comment packet sits: `length` bytes at `file`, from `offset` in the packet, on the page at `page`. */
interface Piece {
  file: number;
  offset: number;
  length: number;
  page: number;
}

const OGG_CRC = (() => {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let r = i << 24;
    for (let j = 0; j < 8; j++) r = r & 0x80000000 ? (r << 1) ^ 0x04c11db7 : r << 1;
    table[i] = r >>> 0;
  }
  return table;
})();

function oggCrc(page: Buffer): number {
  let crc = 0;
  for (const byte of page) crc = ((crc << 8) ^ OGG_CRC[((crc >>> 24) ^ byte) & 0xff]!) >>> 0;
  return crc;
}

/** Overwrites with spaces the values of location comments (`LOCATION=…`) in an Ogg file; returns how many. */
export function stripOggLocation(path: string): Promise<number> {
  return withFile(path, async (fh, size) => {
    const pieces = await commentPieces(fh, size);
    if (!pieces) return 0;
    const packet = Buffer.concat(await Promise.all(pieces.map((p) => readSome(fh, p.file, p.length))));
    const values = locationComments(packet);
    const pages = new Set<number>();
    for (const [from, to] of values) {
      for (const p of pieces) {
        const start = Math.max(from, p.offset);
        const end = Math.min(to, p.offset + p.length);
        if (start >= end) continue;
        await fh.write(Buffer.alloc(end - start, 0x20), 0, end - start, p.file + start - p.offset);
        pages.add(p.page);
      }
    }
    for (const page of pages) await rewriteCrc(fh, page);
    return values.length;
  });
}

/** The comment packet's runs, or null when it is not all there (or too large). */
async function commentPieces(fh: FileHandle, size: number): Promise<Piece[] | null> {
  const pieces: Piece[] = [];
  let serial: number | undefined;
  let packet = 0;
  let length = 0;
  for (let pos = 0, pages = 0; pos + 27 <= size && pages < MAX_PAGES; pages++) {
    const head = await readSome(fh, pos, 27);
    if (head.toString('latin1', 0, 4) !== 'OggS') return null;
    const table = await readSome(fh, pos + 27, head[26]!);
    if (table.length < head[26]!) return null;
    serial ??= head.readUInt32LE(14);
    let data = pos + 27 + table.length;
    if (head.readUInt32LE(14) === serial) {
      for (const lace of table) {
        if (packet === 1) {
          const last = pieces.at(-1);
          if (last?.page === pos) last.length += lace;
          else pieces.push({ file: data, offset: length, length: lace, page: pos });
          length += lace;
          if (length > MAX_COMMENT_BYTES) return null;
        }
        data += lace;
        if (lace < 255 && ++packet === 2) return pieces;
      }
    }
    pos = pos + 27 + table.length + table.reduce((a, b) => a + b, 0);
  }
  return null;
}

/** [start, end) of each location comment's value in the packet: after "OpusTags" or "\x03vorbis", the vendor, the list. */
function locationComments(packet: Buffer): Array<[number, number]> {
  let at = packet.toString('latin1', 0, 8) === 'OpusTags' ? 8 : packet.toString('latin1', 0, 7) === '\x03vorbis' ? 7 : -1;
  if (at < 0 || at + 8 > packet.length) return [];
  at += 4 + packet.readUInt32LE(at);
  if (at + 4 > packet.length) return [];
  const count = packet.readUInt32LE(at);
  at += 4;
  const out: Array<[number, number]> = [];
  for (let i = 0; i < count && at + 4 <= packet.length; i++) {
    const len = packet.readUInt32LE(at);
    const start = at + 4;
    if (start + len > packet.length) break;
    const comment = packet.subarray(start, start + len);
    const eq = comment.indexOf(0x3d);
    if (eq > 0 && LOCATION_NAME.test(comment.toString('utf8', 0, eq))) out.push([start + eq + 1, start + len]);
    at = start + len;
  }
  return out;
}

async function rewriteCrc(fh: FileHandle, pos: number): Promise<void> {
  const head = await readSome(fh, pos, 27);
  const table = await readSome(fh, pos + 27, head[26]!);
  const page = await readSome(fh, pos, 27 + table.length + table.reduce((a, b) => a + b, 0));
  page.writeUInt32LE(0, 22);
  const crc = Buffer.alloc(4);
  crc.writeUInt32LE(oggCrc(page));
  await fh.write(crc, 0, 4, pos + 22);
}
