import { open, type FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { AppError, notFound } from '../errors.js';
import { contentDisposition } from './media.names.js';
import { dispositionOf, servedContentType, typeOfKey } from './media.types.js';
import { LocalStorage } from './storage/local.js';
import type { MediaStorage } from './storage/storage.js';

// Every parameter optional in the schema: a missing or malformed signature is 403 like a wrong one, not 400.
const Query = Type.Object({
  exp: Type.Optional(Type.String({ description: 'Expiry, unix seconds' })),
  sig: Type.Optional(Type.String()),
  name: Type.Optional(Type.String({ description: 'The file name to download under' })),
});

// An image or video opened directly renders in the browser's own viewer; nothing in it may run or load anything else.
const FILE_CSP = "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; sandbox";

export type ByteRange = { start: number; end: number };

/** One `bytes=` range (RFC 9110): null means "send it all" (no header, several ranges, or a header we don't read). */
export function parseRange(header: string | undefined, size: number): ByteRange | null | 'unsatisfiable' {
  const m = header ? /^bytes=(\d*)-(\d*)$/.exec(header.trim()) : null;
  if (!m || (m[1] === '' && m[2] === '')) return null;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    return suffix === 0 || size === 0 ? 'unsatisfiable' : { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  return start >= size || start > end ? 'unsatisfiable' : { start, end };
}

export interface MediaFileOptions {
  storage: MediaStorage;
  /** True for a key listed for removal (its message was deleted): such a file is gone, even while it still exists. */
  isErased(key: string): Promise<boolean>;
}

/**
 * GET /media/<key>?exp&name&sig: the local driver's files, outside the authenticated scope (the signature is the
 * authorisation). Registered only when MEDIA_STORAGE=local; the other drivers' URLs point at the store itself.
 */
export const mediaFileRoutes: FastifyPluginAsyncTypebox<MediaFileOptions> = async (app, { storage, isErased }) => {
  if (!(storage instanceof LocalStorage)) return;
  app.get(
    '/media/*',
    {
      schema: { tags: ['media'], summary: 'A stored file, by the signed URL a Message carries', security: [], querystring: Query },
    },
    async (req, reply) => {
      const key = (req.params as { '*': string })['*'];
      const { exp = '', sig = '', name = '' } = req.query;
      if (!/^\d{1,12}$/.test(exp) || !storage.verify(key, exp, name, sig)) throw new AppError('FORBIDDEN', 'The media URL is not valid');
      const remaining = Number(exp) - Math.floor(Date.now() / 1000);
      if (remaining < 0) throw new AppError('FORBIDDEN', 'The media URL has expired');
      const file = storage.file(key);
      const type = typeOfKey(key);
      // Asked only once the signature holds, so a stranger's guesses cost no query. A removal that failed leaves the
      // file on disk; this is what keeps it unreadable until the sweep removes it.
      if (!file || !type || (await isErased(key))) throw notFound('Media');
      let fh: FileHandle;
      try {
        fh = await open(file, 'r');
      } catch {
        throw notFound('Media');
      }
      const { size } = await fh.stat();
      const range = parseRange(req.headers.range, size);
      void reply.headers({
        'content-type': servedContentType(type),
        'content-disposition': contentDisposition(dispositionOf(type), name || `file.${type.ext}`),
        'x-content-type-options': 'nosniff',
        'accept-ranges': 'bytes',
        'cache-control': `private, max-age=${remaining}`,
        // Chat clients on other origins embed these files; the signature, not the origin, guards them.
        'cross-origin-resource-policy': 'cross-origin',
        'content-security-policy': FILE_CSP,
      });
      if (range === 'unsatisfiable') {
        await fh.close();
        return reply.status(416).header('content-range', `bytes */${size}`).send();
      }
      const { start, end } = range ?? { start: 0, end: size - 1 };
      void reply.header('content-length', String(Math.max(0, end - start + 1)));
      if (range) void reply.status(206).header('content-range', `bytes ${start}-${end}/${size}`);
      // HEAD (Fastify's automatic route) would read the whole file to discard it; an empty stream keeps the headers.
      if (size === 0 || req.method === 'HEAD') {
        await fh.close();
        return reply.send(Readable.from([]));
      }
      return reply.send(fh.createReadStream({ start, end }));
    },
  );
};
