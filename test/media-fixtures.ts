import { crc32, deflateSync } from 'node:zlib';
import sharp from 'sharp';

/**
 * Small files of every accepted kind, built in memory: no binary blobs in the repository. Containers are built just far
 * enough for the sniffers and duration probes to read them (headers and indexes; payloads are silence or zeros).
 */

const u8 = (n: number) => Buffer.from([n & 0xff]);
const u16 = (n: number) => { const b = Buffer.alloc(2); b.writeUInt16BE(n); return b; };
const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n >>> 0); return b; };
const u16le = (n: number) => { const b = Buffer.alloc(2); b.writeUInt16LE(n); return b; };
const u32le = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(n >>> 0); return b; };
const ascii = (s: string) => Buffer.from(s, 'latin1');

// ---- images

export const png = (width = 64, height = 48) =>
  sharp({ create: { width, height, channels: 3, background: { r: 200, g: 30, b: 60 } } }).png().toBuffer();

export const GPS_TAGS = { GPSLatitudeRef: 'N', GPSLatitude: '51/1 30/1 0/1', GPSLongitudeRef: 'W', GPSLongitude: '0/1 7/1 0/1' };

/** A JPEG carrying EXIF with a GPS position and an orientation that turns it on its side. */
export const jpegWithGps = (width = 80, height = 40) =>
  sharp({ create: { width, height, channels: 3, background: { r: 10, g: 120, b: 200 } } })
    .jpeg()
    .withMetadata({ orientation: 6 })
    .withExif({ IFD0: { Make: 'TestCam' }, IFD3: GPS_TAGS })
    .toBuffer();

/** True when EXIF data (as sharp's metadata().exif gives it: "Exif\0\0" + TIFF) has IFD0 pointing at a GPS IFD. */
export function hasGpsIfd(exif: Buffer | undefined): boolean {
  if (!exif) return false;
  const tiff = exif.subarray(exif.subarray(0, 4).toString('latin1') === 'Exif' ? 6 : 0);
  const le = tiff.toString('latin1', 0, 2) === 'II';
  const r16 = (o: number) => (le ? tiff.readUInt16LE(o) : tiff.readUInt16BE(o));
  const r32 = (o: number) => (le ? tiff.readUInt32LE(o) : tiff.readUInt32BE(o));
  const ifd = r32(4);
  for (let i = 0; i < r16(ifd); i++) if (r16(ifd + 2 + i * 12) === 0x8825) return true;
  return false;
}

export const webp = () => sharp({ create: { width: 30, height: 20, channels: 4, background: '#00ff0080' } }).webp().toBuffer();
export const gif = () => sharp({ create: { width: 16, height: 16, channels: 3, background: '#ffff00' } }).gif().toBuffer();

function pngChunk(type: string, data: Buffer): Buffer {
  const body = Buffer.concat([ascii(type), data]);
  return Buffer.concat([u32(data.length), body, u32(crc32(body))]);
}

/** A PNG whose header claims width×height over a few hundred bytes of pixels: a decompression bomb. */
export function pngBomb(width = 60000, height = 60000): Buffer {
  const ihdr = Buffer.concat([u32(width), u32(height), Buffer.from([8, 2, 0, 0, 0])]);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(Buffer.alloc(4096))),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

// ---- ISO BMFF (MP4, MOV, M4A, HEIC)

const box = (type: string, ...parts: Buffer[]) => {
  const body = Buffer.concat(parts);
  return Buffer.concat([u32(8 + body.length), ascii(type), body]);
};
const fullBox = (type: string, version: number, flags: number, ...parts: Buffer[]) =>
  box(type, Buffer.from([version, (flags >> 16) & 0xff, (flags >> 8) & 0xff, flags & 0xff]), ...parts);
const MATRIX = Buffer.concat([u32(0x10000), u32(0), u32(0), u32(0), u32(0x10000), u32(0), u32(0), u32(0), u32(0x40000000)]);

function track(id: number, handler: 'vide' | 'soun', durationMs: number): Buffer {
  const tkhd = fullBox('tkhd', 0, 3, u32(0), u32(0), u32(id), u32(0), u32(durationMs), Buffer.alloc(8), u16(0), u16(0),
    u16(handler === 'soun' ? 0x100 : 0), u16(0), MATRIX, u32(handler === 'vide' ? 320 << 16 : 0), u32(handler === 'vide' ? 240 << 16 : 0));
  const mdhd = fullBox('mdhd', 0, 0, u32(0), u32(0), u32(1000), u32(durationMs), u16(0x55c4), u16(0));
  const hdlr = fullBox('hdlr', 0, 0, u32(0), ascii(handler), Buffer.alloc(12), ascii('handler\0'));
  const stbl = box('stbl', fullBox('stsd', 0, 0, u32(0)), fullBox('stts', 0, 0, u32(0)), fullBox('stsc', 0, 0, u32(0)),
    fullBox('stsz', 0, 0, u32(0), u32(0)), fullBox('stco', 0, 0, u32(0)));
  const media = handler === 'vide' ? fullBox('vmhd', 0, 1, Buffer.alloc(8)) : fullBox('smhd', 0, 0, Buffer.alloc(4));
  const minf = box('minf', media, box('dinf', fullBox('dref', 0, 0, u32(1), fullBox('url ', 0, 1))), stbl);
  return box('trak', tkhd, box('mdia', mdhd, hdlr, minf));
}

/** An ISO BMFF movie: `brand` picks MP4 ('isom'), QuickTime ('qt  ') or M4A ('M4A '). */
export function isoMovie(opts: { brand?: string; durationMs?: number; tracks?: Array<'vide' | 'soun'> } = {}): Buffer {
  const { brand = 'isom', durationMs = 2500, tracks = ['vide', 'soun'] } = opts;
  const ftyp = box('ftyp', ascii(brand), u32(0x200), ascii(brand), ascii('mp41'));
  const mvhd = fullBox('mvhd', 0, 0, u32(0), u32(0), u32(1000), u32(durationMs), u32(0x10000), u16(0x100), Buffer.alloc(10), MATRIX,
    Buffer.alloc(24), u32(tracks.length + 1));
  return Buffer.concat([ftyp, box('moov', mvhd, ...tracks.map((h, i) => track(i + 1, h, durationMs))), box('mdat', Buffer.alloc(64))]);
}

/** A HEIC still image: an 'hvc1' primary item of width×height and an Exif item holding `exif` (TIFF with GPS). */
export function heic(exif: Buffer, width = 4032, height = 3024): Buffer {
  const ftyp = box('ftyp', ascii('heic'), u32(0), ascii('mif1'), ascii('heic'));
  const image = Buffer.alloc(200, 0x42);
  // HEIF's Exif item: a 4-byte offset to the TIFF header, then the 'Exif\0\0' marker and the TIFF data.
  const exifItem = Buffer.concat([u32(6), exif]);
  const meta = (imageOffset: number, exifOffset: number) => fullBox('meta', 0, 0,
    fullBox('hdlr', 0, 0, u32(0), ascii('pict'), Buffer.alloc(12), ascii('\0')),
    fullBox('pitm', 0, 0, u16(1)),
    fullBox('iinf', 0, 0, u16(2),
      fullBox('infe', 2, 0, u16(1), u16(0), ascii('hvc1'), ascii('\0')),
      fullBox('infe', 2, 0, u16(2), u16(0), ascii('Exif'), ascii('\0'))),
    fullBox('iref', 0, 0, box('cdsc', u16(2), u16(1), u16(1))),
    box('iprp', box('ipco', fullBox('ispe', 0, 0, u32(width), u32(height))), fullBox('ipma', 0, 0, u32(1), u16(1), u8(1), u8(0x81))),
    fullBox('iloc', 0, 0, u8(0x44), u8(0x40), u16(2),
      u16(1), u16(0), u32(0), u16(1), u32(imageOffset), u32(image.length),
      u16(2), u16(0), u32(0), u16(1), u32(exifOffset), u32(exifItem.length)));
  const start = ftyp.length + meta(0, 0).length + 8;
  return Buffer.concat([ftyp, meta(start, start + image.length), box('mdat', image, exifItem)]);
}

// ---- WebM / Matroska

function vint(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  b[0] = 0x01;
  return b;
}
const ebml = (id: number[], ...parts: Buffer[]) => {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from(id), vint(body.length), body]);
};
const ebmlUint = (id: number[], n: number) => ebml(id, u32(n));
const ebmlFloat = (id: number[], n: number) => { const b = Buffer.alloc(8); b.writeDoubleBE(n); return ebml(id, b); };

export function webm(opts: { durationMs?: number; video?: boolean } = {}): Buffer {
  const { durationMs = 3200, video = true } = opts;
  const header = ebml([0x1a, 0x45, 0xdf, 0xa3], ebmlUint([0x42, 0x86], 1), ebmlUint([0x42, 0xf7], 1), ebmlUint([0x42, 0xf2], 4),
    ebmlUint([0x42, 0xf3], 8), ebml([0x42, 0x82], ascii('webm')), ebmlUint([0x42, 0x87], 4), ebmlUint([0x42, 0x85], 2));
  const info = ebml([0x15, 0x49, 0xa9, 0x66], ebmlUint([0x2a, 0xd7, 0xb1], 1_000_000), ebmlFloat([0x44, 0x89], durationMs),
    ebml([0x4d, 0x80], ascii('fixture')), ebml([0x57, 0x41], ascii('fixture')));
  const audio = ebml([0xae], ebmlUint([0xd7], 1), ebmlUint([0x73, 0xc5], 1), ebmlUint([0x83], 2), ebml([0x86], ascii('A_OPUS')),
    ebml([0xe1], ebmlFloat([0xb5], 48000), ebmlUint([0x9f], 1)));
  const vid = ebml([0xae], ebmlUint([0xd7], 2), ebmlUint([0x73, 0xc5], 2), ebmlUint([0x83], 1), ebml([0x86], ascii('V_VP8')),
    ebml([0xe0], ebmlUint([0xb0], 320), ebmlUint([0xba], 240)));
  const tracks = ebml([0x16, 0x54, 0xae, 0x6b], audio, ...(video ? [vid] : []));
  return Buffer.concat([header, ebml([0x18, 0x53, 0x80, 0x67], info, tracks)]);
}

// ---- audio

export function wav(durationMs = 1500, sampleRate = 8000): Buffer {
  const data = Buffer.alloc(Math.round((sampleRate * durationMs) / 1000) * 2);
  const fmt = Buffer.concat([u16le(1), u16le(1), u32le(sampleRate), u32le(sampleRate * 2), u16le(2), u16le(16)]);
  const body = Buffer.concat([ascii('WAVE'), ascii('fmt '), u32le(fmt.length), fmt, ascii('data'), u32le(data.length), data]);
  return Buffer.concat([ascii('RIFF'), u32le(body.length), body]);
}

/** Constant-bitrate MPEG-1 Layer III, 128 kbit/s, 44.1 kHz, mono: `frames` silent frames of 1152 samples each. */
export function mp3(frames = 100): Buffer {
  const frame = Buffer.alloc(417);
  frame.set([0xff, 0xfb, 0x90, 0xc0]);
  return Buffer.concat([ascii('ID3'), Buffer.from([4, 0, 0, 0, 0, 0, 0]), ...Array.from({ length: frames }, () => frame)]);
}

/** Raw AAC in ADTS frames (LC, 44.1 kHz, stereo). */
export function aac(frames = 50): Buffer {
  const len = 7 + 64;
  const header = Buffer.from([0xff, 0xf1, 0x50, 0x80 | ((len >> 11) & 3), (len >> 3) & 0xff, ((len & 7) << 5) | 0x1f, 0xfc]);
  const frame = Buffer.concat([header, Buffer.alloc(64)]);
  return Buffer.concat(Array.from({ length: frames }, () => frame));
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
function oggCrc(buf: Buffer): number {
  let crc = 0;
  for (const byte of buf) crc = ((crc << 8) ^ OGG_CRC[((crc >>> 24) ^ byte) & 0xff]!) >>> 0;
  return crc;
}
function oggPage(flags: number, granule: bigint, seq: number, packet: Buffer): Buffer {
  const segments: number[] = [];
  for (let left = packet.length; ; left -= 255) {
    segments.push(Math.min(left, 255));
    if (left < 255) break;
  }
  const g = Buffer.alloc(8);
  g.writeBigUInt64LE(granule);
  const page = Buffer.concat([ascii('OggS'), u8(0), u8(flags), g, u32le(0x1234), u32le(seq), u32le(0), u8(segments.length), Buffer.from(segments), packet]);
  page.writeUInt32LE(oggCrc(page), 22);
  return page;
}

/** Ogg Opus: the duration is the last page's granule position less the pre-skip, at 48 kHz. */
export function oggOpus(durationMs = 2000): Buffer {
  const preSkip = 312;
  const head = Buffer.concat([ascii('OpusHead'), u8(1), u8(1), u16le(preSkip), u32le(48000), u16le(0), u8(0)]);
  const tags = Buffer.concat([ascii('OpusTags'), u32le(7), ascii('fixture'), u32le(0)]);
  const audio = Buffer.concat([u8(0xf8), Buffer.alloc(20)]);
  return Buffer.concat([
    oggPage(2, 0n, 0, head),
    oggPage(0, 0n, 1, tags),
    oggPage(4, BigInt(preSkip + (48000 * durationMs) / 1000), 2, audio),
  ]);
}

// ---- documents

export const pdf = () =>
  ascii(
    '%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n' +
      'trailer<</Root 1 0 R>>\n%%EOF\n',
  );

export const text = () => Buffer.from('Meeting notes\n\tünïcödé, 日本語, emoji 🙂\r\nline three\n', 'utf8');

/** A stored (uncompressed) ZIP. */
export function zip(entries: Record<string, string>): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const [name, content] of Object.entries(entries)) {
    const data = Buffer.from(content, 'utf8');
    const nameBuf = Buffer.from(name, 'utf8');
    const crc = crc32(data);
    const common = Buffer.concat([u16le(20), u16le(0), u16le(0), u16le(0), u16le(0), u32le(crc), u32le(data.length), u32le(data.length), u16le(nameBuf.length), u16le(0)]);
    const local = Buffer.concat([u32le(0x04034b50), common, nameBuf, data]);
    centrals.push(Buffer.concat([u32le(0x02014b50), u16le(20), common, u16le(0), u16le(0), u16le(0), u32le(0), u32le(offset), nameBuf]));
    locals.push(local);
    offset += local.length;
  }
  const central = Buffer.concat(centrals);
  const end = Buffer.concat([u32le(0x06054b50), u16le(0), u16le(0), u16le(centrals.length), u16le(centrals.length), u32le(central.length), u32le(offset), u16le(0)]);
  return Buffer.concat([...locals, central, end]);
}

export const DOCX_MIME = 'application/vnd.openxmlformats-officedocument.wordprocessingml.document';
export const docx = () =>
  zip({
    '[Content_Types].xml':
      '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">' +
      '<Default Extension="xml" ContentType="application/xml"/>' +
      '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>',
    'word/document.xml': '<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body/></w:document>',
  });

/** A Compound File (legacy Office container) whose root holds the named streams, e.g. WordDocument for a .doc. */
export function cfb(streams: string[] = ['WordDocument']): Buffer {
  const END = 0xfffffffe;
  const FREE = 0xffffffff;
  const header = Buffer.alloc(512);
  Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]).copy(header, 0);
  header.writeUInt16LE(0x3e, 24);
  header.writeUInt16LE(3, 26);
  header.writeUInt16LE(0xfffe, 28);
  header.writeUInt16LE(9, 30);
  header.writeUInt16LE(6, 32);
  header.writeUInt32LE(1, 44); // one FAT sector
  header.writeUInt32LE(1, 48); // directory starts in sector 1
  header.writeUInt32LE(0x1000, 56);
  header.writeUInt32LE(END, 60);
  header.writeUInt32LE(END, 68);
  header.writeUInt32LE(0, 76); // DIFAT[0]: the FAT is sector 0
  for (let i = 1; i < 109; i++) header.writeUInt32LE(FREE, 76 + i * 4);
  const fat = Buffer.alloc(512, 0xff);
  fat.writeUInt32LE(0xfffffffd, 0);
  fat.writeUInt32LE(END, 4);
  const entry = (name: string, type: number, child: number, right: number) => {
    const e = Buffer.alloc(128);
    const n = Buffer.from(name + '\0', 'utf16le');
    n.copy(e, 0);
    e.writeUInt16LE(n.length, 64);
    e[66] = type;
    e[67] = 1;
    e.writeUInt32LE(FREE, 68);
    e.writeUInt32LE(right, 72);
    e.writeUInt32LE(child, 76);
    e.writeUInt32LE(END, 116);
    return e;
  };
  // A degenerate tree (each stream the right sibling of the one before) is still a valid red-black-less directory.
  const entries = [entry('Root Entry', 5, streams.length ? 1 : FREE, FREE), ...streams.map((s, i) => entry(s, 2, FREE, i + 2 <= streams.length ? i + 2 : FREE))];
  const dir = Buffer.alloc(512);
  entries.slice(0, 4).forEach((e, i) => e.copy(dir, i * 128));
  return Buffer.concat([header, fat, dir]);
}

// ---- refused

export function elf(): Buffer {
  const b = Buffer.alloc(128);
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]).copy(b);
  b.writeUInt16LE(2, 16);
  b.writeUInt16LE(0x3e, 18);
  return b;
}

export function pe(): Buffer {
  const b = Buffer.alloc(256);
  b.write('MZ', 0, 'latin1');
  b.writeUInt32LE(0x80, 0x3c);
  b.write('PE\0\0', 0x80, 'latin1');
  return b;
}
