import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { children, find, movieInfo } from '../src/media/bmff.js';
import { stripMovieLocation } from '../src/media/strip-location.js';
import { stripId3Location, stripOggLocation, stripWebmLocation } from '../src/media/strip-tags.js';
import { startTestApp, type Client, type TestApp } from './helpers/app.js';
import { expectProblem } from './helpers/assertions.js';
import * as fx from './media-fixtures.js';
import { cloudinaryEnv, fetchBytes, form, leftoverFiles, mediaRows, room, startFakeCloudinary } from './media-helpers.js';

/** What must not survive: the ISO 6709 string (and its start), the key naming it, loci's place and coordinates. */
const LEAKS = [fx.ISO6709, '+37.3318', fx.LOCATION_KEY, 'com.apple.quicktime.location', 'Apple Park'].map((s) => Buffer.from(s, 'latin1'));
/** What is not location and must survive. */
const KEPT = ['com.apple.quicktime.make', 'com.apple.quicktime.model', 'iPhone 15'].map((s) => Buffer.from(s, 'latin1'));

function expectNoLocation(bytes: Buffer): void {
  for (const leak of [...LEAKS, fx.LOCI_COORDS]) expect(bytes.includes(leak), `still holds ${leak.toString('latin1')}`).toBe(false);
  for (const kept of KEPT) expect(bytes.includes(kept), `lost ${kept.toString('latin1')}`).toBe(true);
}

/** Same length, and every changed byte inside one of the location spans the fixture recorded. */
function expectChangedOnlyIn(before: Buffer, after: Buffer, spans: Array<[number, number]>): void {
  expect(after.length).toBe(before.length);
  const outside: number[] = [];
  for (let i = 0; i < before.length; i++) {
    if (before[i] !== after[i] && !spans.some(([s, e]) => i >= s && i < e)) outside.push(i);
  }
  expect(outside).toEqual([]);
}

const VARIANTS = [
  { name: 'MP4 (ISO meta, a full box)', file: 'clip.mp4', mime: 'video/mp4', opts: { durationMs: 2500 } },
  { name: 'QuickTime (meta without version)', file: 'IMG_0042.MOV', mime: 'video/quicktime', opts: { brand: 'qt  ', durationMs: 4000 } },
  { name: 'M4A', file: 'memo.m4a', mime: 'audio/mp4', opts: { brand: 'M4A ', tracks: ['soun' as const], durationMs: 1200 } },
];

describe('stripMovieLocation on files', () => {
  let dir: string;
  let n = 0;
  beforeAll(async () => void (dir = await mkdtemp(path.join(tmpdir(), 'chat-location-'))));
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  async function strip(data: Buffer) {
    const file = path.join(dir, `${++n}.mp4`);
    await writeFile(file, data);
    const result = await stripMovieLocation(file);
    return { ...result, out: await readFile(file), file };
  }
  async function duration(file: string, size: number) {
    const fh = await open(file, 'r');
    try {
      return (await movieInfo(fh, size)).durationMs;
    } finally {
      await fh.close();
    }
  }

  it.each(VARIANTS)('$name: frees every location box, blanks the keys, changes nothing else', async ({ opts }) => {
    const { data, spans } = fx.taggedMovie(opts);
    for (const leak of LEAKS.slice(0, 3)) expect(data.includes(leak)).toBe(true);
    const { out, ranges, complete, file } = await strip(data);
    expect(complete).toBe(true);
    expectNoLocation(out);
    expectChangedOnlyIn(data, out, spans);
    for (const r of ranges)
      expect(
        spans.some(([s, e]) => r.start >= s && r.end <= e),
        JSON.stringify(r),
      ).toBe(true);
    expect(await duration(file, out.length)).toBe(opts.durationMs);
    // The moov-level udta now holds only skippable boxes (and the iTunes meta, whose title survives).
    const moov = find(await withFile(file, (fh) => children(fh, 0, out.length)), 'moov')!;
    const udta = find(await withFile(file, (fh) => children(fh, moov.body, moov.end)), 'udta')!;
    const inside = (await withFile(file, (fh) => children(fh, udta.body, udta.end))).map((b) => b.type);
    expect(inside).toEqual(opts.brand === 'qt  ' ? ['free', 'free'] : ['free', 'free', 'meta']);
    if (opts.brand !== 'qt  ') expect(out.includes(Buffer.from('Holiday'))).toBe(true);
  });

  it('frees XMP (which can hold exif:GPSLatitude): udta/XMP_ and the top-level XMP uuid box', async () => {
    const xmp = Buffer.from('<x:xmpmeta><rdf:Description exif:GPSLatitude="37,19.908N"/></x:xmpmeta>');
    const uuid = fx.box('uuid', Buffer.from('be7acfcb97a942e89c71999491e3afac', 'hex'), xmp);
    const other = fx.box('uuid', Buffer.alloc(16, 7), Buffer.from('not xmp'));
    const data = Buffer.concat([fx.isoMovie({ moovExtra: [fx.box('udta', fx.box('XMP_', xmp))] }), uuid, other]);
    const { out, complete } = await strip(data);
    expect(complete).toBe(true);
    expect(out.includes(Buffer.from('GPSLatitude'))).toBe(false);
    expect(out.includes(Buffer.from('not xmp'))).toBe(true);
    expect(out.length).toBe(data.length);
  });

  it('leaves a movie without location byte for byte as it was, and a second pass changes nothing', async () => {
    const plain = fx.isoMovie();
    const first = await strip(plain);
    expect([first.ranges, first.complete, first.out.equals(plain)]).toEqual([[], true, true]);
    const stripped = (await strip(fx.taggedMovie().data)).out;
    const again = await strip(stripped);
    expect([again.ranges, again.out.equals(stripped)]).toEqual([[], true]);
  });

  it('strips a truncated recording as far as it goes (the end of the file is not a damaged size)', async () => {
    const { data } = fx.taggedMovie();
    const cutMdat = await strip(data.subarray(0, data.length - 20));
    expect(cutMdat.complete).toBe(true);
    expectNoLocation(cutMdat.out);
    // Cut inside the last ISO 6709 value (the keys+ilst item): the item is freed up to the end of the file.
    const cutMoov = await strip(data.subarray(0, data.lastIndexOf(fx.ISO6709) + 10));
    expect(cutMoov.complete).toBe(true);
    expect(cutMoov.out.includes(Buffer.from('+37.3318'))).toBe(false);
  });

  it('follows size 0 (to the end of the parent) and size 1 (a 64-bit size)', async () => {
    const { data } = fx.taggedMovie();
    const zero = Buffer.from(data);
    zero.writeUInt32BE(0, data.lastIndexOf('meta') - 4);
    const z = await strip(zero);
    expect(z.complete).toBe(true);
    expect(z.out.includes(Buffer.from(fx.LOCATION_KEY))).toBe(false);

    const xyz = fx.box('\xa9xyz', Buffer.from(fx.ISO6709));
    const large = Buffer.concat([Buffer.from([0, 0, 0, 1]), Buffer.from('udta'), Buffer.alloc(4), Buffer.alloc(4), xyz]);
    large.writeUInt32BE(large.length, 12);
    const l = await strip(fx.isoMovie({ moovExtra: [large] }));
    expect(l.complete).toBe(true);
    expect(l.out.includes(Buffer.from(fx.ISO6709))).toBe(false);
  });

  it('reports, without throwing, sizes that disagree: an overrun inside the movie, a size below its header, a 64-bit overflow, a bad key', async () => {
    const { data } = fx.taggedMovie();
    const edit = (at: number, size: number) => {
      const b = Buffer.from(data);
      b.writeUInt32BE(size, at);
      return b;
    };
    const udta = data.lastIndexOf('udta') - 4;
    const keys = data.indexOf('keys') - 4;
    const cases = {
      mvhdOverrun: edit(data.indexOf('mvhd') - 4, 0xfffffff0),
      childBelowHeader: edit(udta + 8, 4),
      largeOverflow: edit(udta, 1),
      keyBelowHeader: edit(keys + 16, 3),
    };
    for (const [name, bytes] of Object.entries(cases)) {
      const r = await strip(bytes);
      expect(r.complete, name).toBe(false);
      expect(r.out.length, name).toBe(bytes.length);
    }
  });

  it('bounds the walk: 20,000 tiny boxes, an empty file, and noise', async () => {
    const many = Buffer.concat([...Array.from({ length: 20_000 }, () => fx.box('free')), fx.taggedMovie().data]);
    const started = Date.now();
    expect((await strip(many)).complete).toBe(false);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(await strip(Buffer.alloc(0))).toMatchObject({ complete: true, ranges: [] });
    expect(await strip(Buffer.from('abc'))).toMatchObject({ complete: true, ranges: [] });
    const noise = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 2654435761) >>> 24));
    await expect(strip(noise)).resolves.toBeDefined();
  });
});

describe('WebM tags, ID3 frames and Vorbis comments that a converter copied a position into', () => {
  let dir: string;
  let n = 0;
  beforeAll(async () => void (dir = await mkdtemp(path.join(tmpdir(), 'chat-location-tags-'))));
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  async function run(fn: (file: string) => Promise<number>, data: Buffer) {
    const file = path.join(dir, `${++n}.bin`);
    await writeFile(file, data);
    const count = await fn(file);
    return { count, out: await readFile(file) };
  }
  const spansOf = (data: Buffer, needles: Buffer[]) =>
    needles.flatMap((needle) => {
      const out: Array<[number, number]> = [];
      for (let at = data.indexOf(needle); at !== -1; at = data.indexOf(needle, at + 1)) out.push([at, at + needle.length]);
      return out;
    });
  const WEBM_TAGS: Array<[string, string]> = [
    ['TITLE', 'Holiday'],
    ['LOCATION', fx.ISO6709],
    ['COM.APPLE.QUICKTIME.LOCATION.ISO6709', fx.ISO6709],
  ];

  it.each([false, true])('WebM (tags behind a live cluster: %s): blanks the location values, keeps the title', async (live) => {
    const data = fx.webm({ tags: WEBM_TAGS, live });
    const { count, out } = await run(stripWebmLocation, data);
    expect(count).toBe(2);
    expect(out.includes(Buffer.from(fx.ISO6709))).toBe(false);
    expect(out.includes(Buffer.from('Holiday'))).toBe(true);
    expectChangedOnlyIn(data, out, spansOf(data, [Buffer.from(fx.ISO6709)]));
  });

  it('leaves a WebM without tags (MediaRecorder output) and damaged EBML alone, without throwing', async () => {
    const plain = fx.webm();
    expect(await run(stripWebmLocation, plain)).toEqual({ count: 0, out: plain });
    const tagged = fx.webm({ tags: WEBM_TAGS });
    for (const bad of [
      tagged.subarray(0, tagged.length - 12),
      Buffer.from([0x1a, 0x45, 0xdf, 0xa3, 0x00]),
      Buffer.alloc(64, 0xff),
      Buffer.alloc(0),
    ]) {
      await expect(run(stripWebmLocation, bad)).resolves.toMatchObject({ out: expect.any(Buffer) });
    }
  });

  it('zeroes ID3 TXXX location values in v2.3 (Latin-1, UTF-16) and v2.4 (UTF-8), keeping other frames', async () => {
    for (const [version, utf16] of [
      [3, false],
      [3, true],
      [4, false],
    ] as const) {
      const frames = [
        fx.tit2('Holiday'),
        fx.txxx(version, 'location', fx.ISO6709, utf16),
        fx.txxx(version, 'mood', 'sunny', utf16),
        fx.txxx(version, 'GPS', fx.ISO6709, utf16),
      ];
      const data = fx.mp3WithId3(version, frames);
      const { count, out } = await run(stripId3Location, data);
      expect(count, `v2.${version} utf16=${utf16}`).toBe(2);
      for (const enc of ['utf8', 'utf16le'] as const) expect(out.includes(Buffer.from(fx.ISO6709, enc))).toBe(false);
      expect(out.includes(Buffer.from('Holiday'))).toBe(true);
      expect(out.includes(Buffer.from('sunny', utf16 ? 'utf16le' : 'utf8'))).toBe(true);
      // The value with its terminator (and in UTF-16 its byte order mark) is zeroed.
      const value = spansOf(data, [Buffer.from(fx.ISO6709, utf16 ? 'utf16le' : 'utf8')]);
      expectChangedOnlyIn(
        data,
        out,
        value.map(([s, e]) => (utf16 ? [s - 2, e + 2] : [s, e + 1])),
      );
    }
  });

  it.each([undefined, 255])(
    'Ogg Opus (comment packet split at %s): blanks LOCATION values, keeps the rest, CRCs valid',
    async (splitAt) => {
      // The ENCODER comment's length puts the LOCATION value across byte 255 of the packet, so across the split.
      const comments = [
        `ENCODER=${'x'.repeat(202)}`,
        `LOCATION=${fx.ISO6709}`,
        'TITLE=Holiday',
        `com.apple.quicktime.location.ISO6709=${fx.ISO6709}`,
      ];
      const data = fx.oggOpus(2000, { comments, splitAt });
      expect(fx.oggCrcsValid(data)).toBe(true);
      const { count, out } = await run(stripOggLocation, data);
      expect(count).toBe(2);
      // Split, the value's two halves sit on two pages: each must go.
      for (const part of ['+37.3', '-122.0312']) {
        expect(data.includes(Buffer.from(part))).toBe(true);
        expect(out.includes(Buffer.from(part)), part).toBe(false);
      }
      expect(out.includes(Buffer.from('TITLE=Holiday'))).toBe(true);
      expect(fx.oggCrcsValid(out)).toBe(true);
      expect(out.length).toBe(data.length);
    },
  );

  it('leaves Ogg without location comments, and damaged pages, as they are', async () => {
    const plain = fx.oggOpus(2000, { comments: ['TITLE=Holiday'] });
    expect(await run(stripOggLocation, plain)).toEqual({ count: 0, out: plain });
    const data = fx.oggOpus(2000, { comments: [`LOCATION=${fx.ISO6709}`] });
    const lying = Buffer.from(data);
    // The comment claims more bytes than the packet has.
    lying.writeUInt32LE(0xffff, data.indexOf('LOCATION') - 4);
    for (const bad of [lying, data.subarray(0, 60), Buffer.from('OggS')]) {
      await expect(run(stripOggLocation, bad)).resolves.toMatchObject({ count: 0 });
    }
  });

  it('reads a damaged ID3 tag without throwing: an overlong tag, a frame past the tag, no tag at all', async () => {
    const data = fx.mp3WithId3(3, [fx.txxx(3, 'location', fx.ISO6709)]);
    const overlong = Buffer.from(data);
    overlong.set([0x7f, 0x7f, 0x7f, 0x7f], 6);
    const frameOverrun = Buffer.from(data);
    frameOverrun.writeUInt32BE(0x7fffffff, 14);
    for (const bad of [overlong, frameOverrun, fx.mp3(), data.subarray(0, 12)]) {
      await expect(run(stripId3Location, bad)).resolves.toMatchObject({ out: expect.any(Buffer) });
    }
    // The tag's own size overstates it: its frames are still walked and the value still zeroed.
    expect((await run(stripId3Location, overlong)).count).toBe(1);
  });
});

async function withFile<T>(file: string, fn: (fh: import('node:fs/promises').FileHandle) => Promise<T>): Promise<T> {
  const fh = await open(file, 'r');
  try {
    return await fn(fh);
  } finally {
    await fh.close();
  }
}

describe('uploads of videos and voice memos with a location', () => {
  let t: TestApp;
  let alice: Client;
  beforeAll(async () => {
    t = await startTestApp();
    alice = await t.as('alice');
    await (await t.as('bob')).get('/rooms');
  });
  afterAll(async () => t?.close());

  const send = (roomId: string, name: string, type: string, data: Buffer) =>
    alice.raw(`/rooms/${roomId}/messages`, { method: 'POST', body: form([{ name, type, data }], { content: 'where was this?' }) });
  const reach = (url: string) => url.replace(t.config.publicUrl, t.baseUrl);
  const messageCount = async () =>
    ((await t.app.database.db.execute(sql`select count(*)::int as n from chat_message`)) as unknown as { rows: Array<{ n: number }> })
      .rows[0]!.n;

  it.each(VARIANTS)('$name: stores and serves the file without its position, same size and duration', async ({ file, mime, opts }) => {
    const roomId = await room(alice);
    const { data, spans } = fx.taggedMovie(opts);
    const res = await send(roomId, file, mime, data);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const [media] = res.body.media;
    expect(media).toMatchObject({ mimeType: mime, size: data.length, durationMs: opts.durationMs });
    const served = await fetchBytes(reach(media.url));
    expect(served.status).toBe(200);
    expectNoLocation(served.body);
    expectChangedOnlyIn(data, served.body, spans);
  });

  it('strips a converter-copied position from WebM tags, MP3 ID3 frames and Ogg comments; durations as before', async () => {
    const roomId = await room(alice);
    const cases: Array<[string, string, Buffer, number]> = [
      ['clip.webm', 'video/webm', fx.webm({ durationMs: 3200, tags: [['LOCATION', fx.ISO6709]] }), 3200],
      ['song.mp3', 'audio/mpeg', fx.mp3WithId3(4, [fx.txxx(4, 'location', fx.ISO6709)]), 2612],
      ['note.opus', 'audio/ogg', fx.oggOpus(2000, { comments: [`LOCATION=${fx.ISO6709}`] }), 2000],
    ];
    for (const [name, type, data, durationMs] of cases) {
      const res = await send(roomId, name, type, data);
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      const [media] = res.body.media;
      expect(media.size).toBe(data.length);
      expect(Math.abs(media.durationMs - durationMs), name).toBeLessThanOrEqual(30);
      const served = await fetchBytes(reach(media.url));
      expect(served.body.length).toBe(data.length);
      expect(served.body.includes(Buffer.from(fx.ISO6709)), name).toBe(false);
    }
  });

  it('stores a truncated recording (as before) with its position stripped', async () => {
    const roomId = await room(alice);
    const { data } = fx.taggedMovie();
    const cut = data.subarray(0, data.length - 20);
    const res = await send(roomId, 'cut.mp4', 'video/mp4', cut);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    // The strict header reader still gives up on the cut mdat, so there is no duration, as before.
    expect(res.body.media[0]).toMatchObject({ size: cut.length, durationMs: null });
    expectNoLocation((await fetchBytes(reach(res.body.media[0].url))).body);
  });

  it('refuses with 415, keeping nothing, a movie whose box sizes disagree (a position may hide behind them)', async () => {
    const roomId = await room(alice);
    const { data } = fx.taggedMovie();
    const before = { messages: await messageCount(), media: await mediaRows(t) };
    for (const at of [data.indexOf('mvhd') - 4, data.lastIndexOf('udta') - 4]) {
      const bad = Buffer.from(data);
      bad.writeUInt32BE(at === data.indexOf('mvhd') - 4 ? 0xfffffff0 : 1, at);
      const res = await send(roomId, 'bad.mp4', 'video/mp4', bad);
      expectProblem(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
      expect(res.body.detail).toContain('where it was recorded cannot be removed');
    }
    expect({ messages: await messageCount(), media: await mediaRows(t) }).toEqual(before);
    expect((await leftoverFiles(t)).filter((f) => f.includes(roomId) || f.includes(`${t.config.dataDir}/tmp`))).toEqual([]);
  });
});

describe('a remote storage driver', () => {
  it('receives the stripped file (Cloudinary)', async () => {
    const cloud = await startFakeCloudinary();
    const t = await startTestApp(cloudinaryEnv(cloud));
    try {
      const alice = await t.as('alice');
      await (await t.as('bob')).get('/rooms');
      const roomId = await room(alice);
      const { data, spans } = fx.taggedMovie({ brand: 'qt  ' });
      const res = await alice.raw(`/rooms/${roomId}/messages`, {
        method: 'POST',
        body: form([{ name: 'IMG_1.MOV', type: 'video/quicktime', data }]),
      });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      const [stored] = [...cloud.assets.values()];
      expectNoLocation(stored!);
      expectChangedOnlyIn(data, stored!, spans);
    } finally {
      await t.close();
      await cloud.close();
    }
  });
});
