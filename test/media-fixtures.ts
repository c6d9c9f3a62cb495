import { crc32, deflateSync } from 'node:zlib';
import sharp from 'sharp';

/**
 * Small files of every accepted kind, built in memory: no binary blobs in the repository. Containers are built just far
 * enough for the sniffers and duration probes to read them (headers and indexes; payloads are silence or zeros).
 */

const u8 = (n: number) => Buffer.from([n & 0xff]);
const u16 = (n: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
};
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};
const u16le = (n: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n);
  return b;
};
const u32le = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
};
const ascii = (s: string) => Buffer.from(s, 'latin1');

// ---- images

export const png = (width = 64, height = 48) =>
  sharp({ create: { width, height, channels: 3, background: { r: 200, g: 30, b: 60 } } })
    .png()
    .toBuffer();

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

export const webp = () =>
  sharp({ create: { width: 30, height: 20, channels: 4, background: '#00ff0080' } })
    .webp()
    .toBuffer();
export const gif = () =>
  sharp({ create: { width: 16, height: 16, channels: 3, background: '#ffff00' } })
    .gif()
    .toBuffer();

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

export const box = (type: string, ...parts: Buffer[]) => {
  const body = Buffer.concat(parts);
  return Buffer.concat([u32(8 + body.length), ascii(type), body]);
};
export const fullBox = (type: string, version: number, flags: number, ...parts: Buffer[]) =>
  box(type, Buffer.from([version, (flags >> 16) & 0xff, (flags >> 8) & 0xff, flags & 0xff]), ...parts);
const MATRIX = Buffer.concat([u32(0x10000), u32(0), u32(0), u32(0), u32(0x10000), u32(0), u32(0), u32(0), u32(0x40000000)]);

function track(id: number, handler: 'vide' | 'soun', durationMs: number, extra: Buffer[] = []): Buffer {
  const tkhd = fullBox(
    'tkhd',
    0,
    3,
    u32(0),
    u32(0),
    u32(id),
    u32(0),
    u32(durationMs),
    Buffer.alloc(8),
    u16(0),
    u16(0),
    u16(handler === 'soun' ? 0x100 : 0),
    u16(0),
    MATRIX,
    u32(handler === 'vide' ? 320 << 16 : 0),
    u32(handler === 'vide' ? 240 << 16 : 0),
  );
  const mdhd = fullBox('mdhd', 0, 0, u32(0), u32(0), u32(1000), u32(durationMs), u16(0x55c4), u16(0));
  const hdlr = fullBox('hdlr', 0, 0, u32(0), ascii(handler), Buffer.alloc(12), ascii('handler\0'));
  const stbl = box(
    'stbl',
    fullBox('stsd', 0, 0, u32(0)),
    fullBox('stts', 0, 0, u32(0)),
    fullBox('stsc', 0, 0, u32(0)),
    fullBox('stsz', 0, 0, u32(0), u32(0)),
    fullBox('stco', 0, 0, u32(0)),
  );
  const media = handler === 'vide' ? fullBox('vmhd', 0, 1, Buffer.alloc(8)) : fullBox('smhd', 0, 0, Buffer.alloc(4));
  const minf = box('minf', media, box('dinf', fullBox('dref', 0, 0, u32(1), fullBox('url ', 0, 1))), stbl);
  return box('trak', tkhd, box('mdia', mdhd, hdlr, minf), ...extra);
}

interface MovieOptions {
  brand?: string;
  durationMs?: number;
  tracks?: Array<'vide' | 'soun'>;
  /** Boxes appended to moov, and to the first track. */
  moovExtra?: Buffer[];
  trakExtra?: Buffer[];
}

/** An ISO BMFF movie: `brand` picks MP4 ('isom'), QuickTime ('qt  ') or M4A ('M4A '). */
export function isoMovie(opts: MovieOptions = {}): Buffer {
  const { brand = 'isom', durationMs = 2500, tracks = ['vide', 'soun'], moovExtra = [], trakExtra = [] } = opts;
  const ftyp = box('ftyp', ascii(brand), u32(0x200), ascii(brand), ascii('mp41'));
  const mvhd = fullBox(
    'mvhd',
    0,
    0,
    u32(0),
    u32(0),
    u32(1000),
    u32(durationMs),
    u32(0x10000),
    u16(0x100),
    Buffer.alloc(10),
    MATRIX,
    Buffer.alloc(24),
    u32(tracks.length + 1),
  );
  const traks = tracks.map((h, i) => track(i + 1, h, durationMs, i === 0 ? trakExtra : []));
  return Buffer.concat([ftyp, box('moov', mvhd, ...traks, ...moovExtra), box('mdat', Buffer.alloc(64))]);
}

// ---- ISO BMFF with where it was recorded

export const ISO6709 = '+37.3318-122.0312+010.000/';
export const LOCATION_KEY = 'com.apple.quicktime.location.ISO6709';
/** 3GPP `loci` coordinates are 16.16 fixed point: these are the bytes of longitude, latitude, altitude. */
export const LOCI_COORDS = Buffer.concat([u32(Math.round(-122.0312 * 65536)), u32(Math.round(37.3318 * 65536)), u32(10 * 65536)]);

/** A QuickTime user-data text: length, language, text. */
const xyz = () => box('\xa9xyz', u16(ISO6709.length), u16(0x15c7), ascii(ISO6709));
const loci = () => fullBox('loci', 0, 0, u16(0x15c7), ascii('Apple Park\0'), u8(0), LOCI_COORDS, ascii('earth\0'), ascii('\0'));
const dataAtom = (value: string) => box('data', u32(1), u32(0), Buffer.from(value, 'utf8'));
const indexed = (index: number, value: string) => {
  const d = dataAtom(value);
  return Buffer.concat([u32(8 + d.length), u32(index), d]);
};

/** iPhone-style QuickTime metadata: `keys` names each `ilst` item. ISO files wrap meta as a full box, QuickTime does not. */
function mdtaMeta(fullMeta: boolean, entries: Array<[string, string]>): Buffer {
  const hdlr = fullBox('hdlr', 0, 0, u32(0), ascii('mdta'), Buffer.alloc(12), ascii('\0'));
  const keys = fullBox('keys', 0, 0, u32(entries.length), ...entries.map(([k]) => box('mdta', ascii(k))));
  const ilst = box('ilst', ...entries.map(([, v], i) => indexed(i + 1, v)));
  return fullMeta ? fullBox('meta', 0, 0, hdlr, keys, ilst) : box('meta', hdlr, keys, ilst);
}

/**
 * A movie carrying its recording position everywhere phones and cameras put it: moov/udta/©xyz, moov/udta/loci, an
 * iTunes-style moov/udta/meta/ilst/©xyz, an iPhone-style moov/meta keys+ilst, and the first track's udta/©xyz. The
 * title, make and model are not location and must survive. `spans` are the byte ranges a stripper may change.
 */
export function taggedMovie(opts: Omit<MovieOptions, 'moovExtra' | 'trakExtra'> = {}): { data: Buffer; spans: Array<[number, number]> } {
  const quicktime = opts.brand === 'qt  ';
  const itunes = fullBox(
    'meta',
    0,
    0,
    fullBox('hdlr', 0, 0, u32(0), ascii('mdir'), ascii('appl'), Buffer.alloc(8), ascii('\0')),
    box('ilst', box('\xa9nam', dataAtom('Holiday')), box('\xa9xyz', dataAtom(ISO6709))),
  );
  const udta = box('udta', xyz(), loci(), ...(quicktime ? [] : [itunes]));
  const meta = mdtaMeta(!quicktime, [
    ['com.apple.quicktime.make', 'Apple'],
    [LOCATION_KEY, ISO6709],
    ['com.apple.quicktime.location.accuracy.horizontal', '14.500000'],
    ['com.apple.quicktime.model', 'iPhone 15'],
  ]);
  const data = isoMovie({ ...opts, moovExtra: [udta, meta], trakExtra: [box('udta', xyz())] });
  const spans: Array<[number, number]> = [];
  const parts = [
    xyz(),
    loci(),
    box('\xa9xyz', dataAtom(ISO6709)),
    indexed(2, ISO6709),
    indexed(3, '14.500000'),
    ascii(LOCATION_KEY),
    ascii('com.apple.quicktime.location.accuracy.horizontal'),
  ];
  for (const part of parts) {
    for (let at = data.indexOf(part); at !== -1; at = data.indexOf(part, at + 1)) spans.push([at, at + part.length]);
  }
  return { data, spans };
}

/** A HEIC still image: an 'hvc1' primary item of width×height and an Exif item holding `exif` (TIFF with GPS). */
export function heic(exif: Buffer, width = 4032, height = 3024): Buffer {
  const ftyp = box('ftyp', ascii('heic'), u32(0), ascii('mif1'), ascii('heic'));
  const image = Buffer.alloc(200, 0x42);
  // HEIF's Exif item: a 4-byte offset to the TIFF header, then the 'Exif\0\0' marker and the TIFF data.
  const exifItem = Buffer.concat([u32(6), exif]);
  const meta = (imageOffset: number, exifOffset: number) =>
    fullBox(
      'meta',
      0,
      0,
      fullBox('hdlr', 0, 0, u32(0), ascii('pict'), Buffer.alloc(12), ascii('\0')),
      fullBox('pitm', 0, 0, u16(1)),
      fullBox(
        'iinf',
        0,
        0,
        u16(2),
        fullBox('infe', 2, 0, u16(1), u16(0), ascii('hvc1'), ascii('\0')),
        fullBox('infe', 2, 0, u16(2), u16(0), ascii('Exif'), ascii('\0')),
      ),
      fullBox('iref', 0, 0, box('cdsc', u16(2), u16(1), u16(1))),
      box('iprp', box('ipco', fullBox('ispe', 0, 0, u32(width), u32(height))), fullBox('ipma', 0, 0, u32(1), u16(1), u8(1), u8(0x81))),
      fullBox(
        'iloc',
        0,
        0,
        u8(0x44),
        u8(0x40),
        u16(2),
        u16(1),
        u16(0),
        u32(0),
        u16(1),
        u32(imageOffset),
        u32(image.length),
        u16(2),
        u16(0),
        u32(0),
        u16(1),
        u32(exifOffset),
        u32(exifItem.length),
      ),
    );
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
const ebmlFloat = (id: number[], n: number) => {
  const b = Buffer.alloc(8);
  b.writeDoubleBE(n);
  return ebml(id, b);
};

const simpleTag = (name: string, value: string) =>
  ebml([0x67, 0xc8], ebml([0x45, 0xa3], ascii(name)), ebml([0x44, 0x87], Buffer.from(value, 'utf8')));
const tagsElement = (tags: Array<[string, string]>) =>
  ebml([0x12, 0x54, 0xc3, 0x67], ebml([0x73, 0x73], ebml([0x63, 0xc0]), ...tags.map(([n, v]) => simpleTag(n, v))));

/**
 * A WebM file. `tags` adds global SimpleTags (as ffmpeg writes a converted phone video's metadata); with `live`, they
 * follow a cluster of unknown size (a live recording's) and only the SeekHead says where they are.
 */
export function webm(opts: { durationMs?: number; video?: boolean; tags?: Array<[string, string]>; live?: boolean } = {}): Buffer {
  const { durationMs = 3200, video = true, tags = [], live = false } = opts;
  const header = ebml(
    [0x1a, 0x45, 0xdf, 0xa3],
    ebmlUint([0x42, 0x86], 1),
    ebmlUint([0x42, 0xf7], 1),
    ebmlUint([0x42, 0xf2], 4),
    ebmlUint([0x42, 0xf3], 8),
    ebml([0x42, 0x82], ascii('webm')),
    ebmlUint([0x42, 0x87], 4),
    ebmlUint([0x42, 0x85], 2),
  );
  const info = ebml(
    [0x15, 0x49, 0xa9, 0x66],
    ebmlUint([0x2a, 0xd7, 0xb1], 1_000_000),
    ebmlFloat([0x44, 0x89], durationMs),
    ebml([0x4d, 0x80], ascii('fixture')),
    ebml([0x57, 0x41], ascii('fixture')),
  );
  const audio = ebml(
    [0xae],
    ebmlUint([0xd7], 1),
    ebmlUint([0x73, 0xc5], 1),
    ebmlUint([0x83], 2),
    ebml([0x86], ascii('A_OPUS')),
    ebml([0xe1], ebmlFloat([0xb5], 48000), ebmlUint([0x9f], 1)),
  );
  const vid = ebml(
    [0xae],
    ebmlUint([0xd7], 2),
    ebmlUint([0x73, 0xc5], 2),
    ebmlUint([0x83], 1),
    ebml([0x86], ascii('V_VP8')),
    ebml([0xe0], ebmlUint([0xb0], 320), ebmlUint([0xba], 240)),
  );
  const tracks = ebml([0x16, 0x54, 0xae, 0x6b], audio, ...(video ? [vid] : []));
  if (!tags.length) return Buffer.concat([header, ebml([0x18, 0x53, 0x80, 0x67], info, tracks)]);
  if (!live) return Buffer.concat([header, ebml([0x18, 0x53, 0x80, 0x67], info, tracks, tagsElement(tags))]);
  const cluster = Buffer.concat([
    Buffer.from([0x1f, 0x43, 0xb6, 0x75, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
    ebmlUint([0xe7], 0),
  ]);
  const seekHead = (at: number) =>
    ebml([0x11, 0x4d, 0x9b, 0x74], ebml([0x4d, 0xbb], ebml([0x53, 0xab], u32(0x1254c367)), ebmlUint([0x53, 0xac], at)));
  const at = seekHead(0).length + info.length + tracks.length + cluster.length;
  return Buffer.concat([header, ebml([0x18, 0x53, 0x80, 0x67], seekHead(at), info, tracks, cluster, tagsElement(tags))]);
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

const synchsafe = (n: number) => Buffer.from([(n >> 21) & 0x7f, (n >> 14) & 0x7f, (n >> 7) & 0x7f, n & 0x7f]);

/** An ID3v2.3 or 2.4 TXXX frame; `utf16` picks encoding 1 (UTF-16 with a byte order mark), else UTF-8/Latin-1. */
export function txxx(version: 3 | 4, description: string, value: string, utf16 = false): Buffer {
  const text = (t: string) =>
    utf16 ? Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(t, 'utf16le'), u16(0)]) : Buffer.concat([Buffer.from(t, 'utf8'), u8(0)]);
  const body = Buffer.concat([u8(utf16 ? 1 : version === 4 ? 3 : 0), text(description), text(value)]);
  return Buffer.concat([ascii('TXXX'), version === 4 ? synchsafe(body.length) : u32(body.length), u16(0), body]);
}
export const tit2 = (title: string) => {
  const b = Buffer.concat([u8(0), ascii(title)]);
  return Buffer.concat([ascii('TIT2'), u32(b.length), u16(0), b]);
};

/** An MP3 whose ID3v2 tag holds `frames` (and 32 bytes of padding). */
export function mp3WithId3(version: 3 | 4, frames: Buffer[], count = 100): Buffer {
  const body = Buffer.concat([...frames, Buffer.alloc(32)]);
  return Buffer.concat([ascii('ID3'), Buffer.from([version, 0, 0]), synchsafe(body.length), body, mp3(count).subarray(10)]);
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
/** One page holding `packet`; `open` leaves it unfinished (its length a multiple of 255) for the next page to continue. */
function oggPage(flags: number, granule: bigint, seq: number, packet: Buffer, open = false): Buffer {
  const segments: number[] = [];
  for (let left = packet.length; ; left -= 255) {
    if (open && left === 0) break;
    segments.push(Math.min(left, 255));
    if (left < 255) break;
  }
  const g = Buffer.alloc(8);
  g.writeBigUInt64LE(granule);
  const page = Buffer.concat([
    ascii('OggS'),
    u8(0),
    u8(flags),
    g,
    u32le(0x1234),
    u32le(seq),
    u32le(0),
    u8(segments.length),
    Buffer.from(segments),
    packet,
  ]);
  page.writeUInt32LE(oggCrc(page), 22);
  return page;
}

/**
 * Ogg Opus: the duration is the last page's granule position less the pre-skip, at 48 kHz. `comments` ("KEY=value")
 * go in the OpusTags packet, which `splitAt` (a multiple of 255) carries over two pages.
 */
export function oggOpus(durationMs = 2000, opts: { comments?: string[]; splitAt?: number } = {}): Buffer {
  const { comments = [], splitAt } = opts;
  const preSkip = 312;
  const head = Buffer.concat([ascii('OpusHead'), u8(1), u8(1), u16le(preSkip), u32le(48000), u16le(0), u8(0)]);
  const list = comments.map((c) => {
    const b = Buffer.from(c, 'utf8');
    return Buffer.concat([u32le(b.length), b]);
  });
  const tags = Buffer.concat([ascii('OpusTags'), u32le(7), ascii('fixture'), u32le(comments.length), ...list]);
  const audio = Buffer.concat([u8(0xf8), Buffer.alloc(20)]);
  const tagPages = splitAt
    ? [oggPage(0, 0xffffffffffffffffn, 1, tags.subarray(0, splitAt), true), oggPage(1, 0n, 2, tags.subarray(splitAt))]
    : [oggPage(0, 0n, 1, tags)];
  return Buffer.concat([
    oggPage(2, 0n, 0, head),
    ...tagPages,
    oggPage(4, BigInt(preSkip + (48000 * durationMs) / 1000), tagPages.length + 1, audio),
  ]);
}

/** True when every page's CRC matches its bytes. */
export function oggCrcsValid(file: Buffer): boolean {
  for (let pos = 0; pos < file.length;) {
    const segments = file[pos + 26]!;
    const length = 27 + segments + [...file.subarray(pos + 27, pos + 27 + segments)].reduce((a, b) => a + b, 0);
    const page = Buffer.from(file.subarray(pos, pos + length));
    const stored = page.readUInt32LE(22);
    page.writeUInt32LE(0, 22);
    if (oggCrc(page) !== stored) return false;
    pos += length;
  }
  return true;
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
    const common = Buffer.concat([
      u16le(20),
      u16le(0),
      u16le(0),
      u16le(0),
      u16le(0),
      u32le(crc),
      u32le(data.length),
      u32le(data.length),
      u16le(nameBuf.length),
      u16le(0),
    ]);
    const local = Buffer.concat([u32le(0x04034b50), common, nameBuf, data]);
    centrals.push(Buffer.concat([u32le(0x02014b50), u16le(20), common, u16le(0), u16le(0), u16le(0), u32le(0), u32le(offset), nameBuf]));
    locals.push(local);
    offset += local.length;
  }
  const central = Buffer.concat(centrals);
  const end = Buffer.concat([
    u32le(0x06054b50),
    u16le(0),
    u16le(0),
    u16le(centrals.length),
    u16le(centrals.length),
    u32le(central.length),
    u32le(offset),
    u16le(0),
  ]);
  return Buffer.concat([...locals, central, end]);
}

export const DOCX_MIME = 'application/vnd.openxmlformats-officedocument.wordprocessingml.document';
export const docx = () =>
  zip({
    '[Content_Types].xml':
      '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">' +
      '<Default Extension="xml" ContentType="application/xml"/>' +
      '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>',
    'word/document.xml':
      '<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body/></w:document>',
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
  const entries = [
    entry('Root Entry', 5, streams.length ? 1 : FREE, FREE),
    ...streams.map((s, i) => entry(s, 2, FREE, i + 2 <= streams.length ? i + 2 : FREE)),
  ];
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
