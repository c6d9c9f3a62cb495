import { open } from 'node:fs/promises';
import { children, find, MalformedFile, payload, type Box } from './bmff.js';
import type { FileHandle } from 'node:fs/promises';

/**
 * HEIC/HEIF without decoding: the libvips that sharp ships here reads AVIF but not HEVC, so a HEIC photo cannot be
 * re-encoded. Its dimensions come from the primary item's `ispe` property (swapped by `irot`), and its metadata
 * items (Exif, which holds the GPS position, and XMP) are overwritten with zeros in place. Offsets stay valid, so the
 * image is byte-for-byte the same otherwise; readers see an empty metadata item.
 */

export interface HeifInfo {
  width: number | null;
  height: number | null;
}

interface Extent {
  offset: number;
  length: number;
}
interface Location {
  method: number;
  extents: Extent[];
}

function uint(b: Buffer, at: number, size: number): number {
  if (size === 0) return 0;
  if (size === 2) return b.readUInt16BE(at);
  if (size === 4) return b.readUInt32BE(at);
  if (size === 8) return Number(b.readBigUInt64BE(at));
  throw new MalformedFile(`unsupported field size ${size}`);
}

function cString(b: Buffer, at: number): [string, number] {
  const end = b.indexOf(0, at);
  const stop = end === -1 ? b.length : end;
  return [b.toString('utf8', at, stop), stop + 1];
}

function parseIloc(b: Buffer): Map<number, Location> {
  const version = b[0]!;
  const offsetSize = b[4]! >> 4;
  const lengthSize = b[4]! & 15;
  const baseSize = b[5]! >> 4;
  const indexSize = version >= 1 ? b[5]! & 15 : 0;
  let at = 6;
  const count = version < 2 ? b.readUInt16BE(at) : b.readUInt32BE(at);
  at += version < 2 ? 2 : 4;
  const out = new Map<number, Location>();
  for (let i = 0; i < count; i++) {
    const id = version < 2 ? b.readUInt16BE(at) : b.readUInt32BE(at);
    at += version < 2 ? 2 : 4;
    let method = 0;
    if (version >= 1) {
      method = b.readUInt16BE(at) & 15;
      at += 2;
    }
    at += 2; // data_reference_index
    const base = uint(b, at, baseSize);
    at += baseSize;
    const extentCount = b.readUInt16BE(at);
    at += 2;
    const extents: Extent[] = [];
    for (let e = 0; e < extentCount; e++) {
      at += indexSize;
      const offset = uint(b, at, offsetSize);
      at += offsetSize;
      const length = uint(b, at, lengthSize);
      at += lengthSize;
      extents.push({ offset: base + offset, length });
    }
    out.set(id, { method, extents });
  }
  return out;
}

/** Item id → item type, and for `mime` items the content type (XMP is a mime item of application/rdf+xml). */
async function parseIinf(fh: FileHandle, iinf: Box): Promise<Map<number, { type: string; contentType: string }>> {
  const head = await payload(fh, { ...iinf, end: Math.min(iinf.end, iinf.body + 8) });
  const skip = head[0] === 0 ? 6 : 8;
  const items = new Map<number, { type: string; contentType: string }>();
  for (const infe of await children(fh, iinf.body + skip, iinf.end)) {
    if (infe.type !== 'infe') continue;
    const b = await payload(fh, infe);
    const version = b[0]!;
    if (version < 2) continue;
    const id = version === 2 ? b.readUInt16BE(4) : b.readUInt32BE(4);
    const at = version === 2 ? 8 : 10;
    const type = b.toString('latin1', at, at + 4);
    const [, next] = cString(b, at + 4);
    const contentType = type === 'mime' ? cString(b, next)[0] : '';
    items.set(id, { type, contentType });
  }
  return items;
}

async function primaryDimensions(fh: FileHandle, meta: Box[], primary: number): Promise<HeifInfo> {
  const iprp = find(meta, 'iprp');
  if (!iprp) return { width: null, height: null };
  const props = await children(fh, iprp.body, iprp.end);
  const ipco = find(props, 'ipco');
  const ipma = find(props, 'ipma');
  if (!ipco || !ipma) return { width: null, height: null };
  const properties = await children(fh, ipco.body, ipco.end);
  const b = await payload(fh, ipma);
  const version = b[0]!;
  const wide = (b[3]! & 1) === 1;
  let at = 4;
  const count = b.readUInt32BE(at);
  at += 4;
  let width: number | null = null;
  let height: number | null = null;
  let quarterTurns = 0;
  for (let i = 0; i < count; i++) {
    const id = version < 1 ? b.readUInt16BE(at) : b.readUInt32BE(at);
    at += version < 1 ? 2 : 4;
    const n = b[at++]!;
    for (let a = 0; a < n; a++) {
      const index = wide ? b.readUInt16BE(at) & 0x7fff : b[at]! & 0x7f;
      at += wide ? 2 : 1;
      const prop = properties[index - 1];
      if (id !== primary || !prop) continue;
      if (prop.type === 'ispe') {
        const p = await payload(fh, prop);
        width = p.readUInt32BE(4);
        height = p.readUInt32BE(8);
      } else if (prop.type === 'irot') {
        quarterTurns = (await payload(fh, prop))[0]! & 3;
      }
    }
  }
  return quarterTurns % 2 === 1 ? { width: height, height: width } : { width, height };
}

/** Reads the primary image's size and zeroes the Exif and XMP items of the file at `path`, in place. */
export async function scrubHeif(path: string): Promise<HeifInfo> {
  const fh = await open(path, 'r+');
  try {
    const { size } = await fh.stat();
    const meta = find(await children(fh, 0, size), 'meta');
    if (!meta) throw new MalformedFile('no meta box');
    const boxes = await children(fh, meta.body + 4, meta.end);
    const pitm = find(boxes, 'pitm');
    const iinf = find(boxes, 'iinf');
    const iloc = find(boxes, 'iloc');
    const idat = find(boxes, 'idat');
    let primary = 1;
    if (pitm) {
      const b = await payload(fh, pitm);
      primary = b[0] === 0 ? b.readUInt16BE(4) : b.readUInt32BE(4);
    }
    const items = iinf ? await parseIinf(fh, iinf) : new Map<number, { type: string; contentType: string }>();
    const locations = iloc ? parseIloc(await payload(fh, iloc)) : new Map<number, Location>();
    for (const [id, item] of items) {
      const isMetadata = item.type === 'Exif' || (item.type === 'mime' && /xmp|rdf\+xml/i.test(item.contentType));
      if (!isMetadata) continue;
      const loc = locations.get(id);
      if (!loc) continue;
      // Method 2 (bytes of another item) never holds metadata in practice; refusing beats keeping a GPS position.
      if (loc.method === 2 || (loc.method === 1 && !idat)) throw new MalformedFile('metadata item in an unsupported place');
      const origin = loc.method === 1 ? idat!.body : 0;
      for (const { offset, length } of loc.extents) {
        const from = origin + offset;
        if (length === 0 || from + length > size) throw new MalformedFile('metadata item outside the file');
        await fh.write(Buffer.alloc(length), 0, length, from);
      }
    }
    return await primaryDimensions(fh, boxes, primary);
  } finally {
    await fh.close();
  }
}
