import multipart, { type Multipart } from '@fastify/multipart';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Config } from '../config.js';
import { AppError, invalid } from '../errors.js';
import type { IncomingFile, MediaService, PendingMedia } from './media.service.js';

export const MEDIA_FIELD = 'media';
/** Enough for the message fields and 100 repeated mentions; a form with more is not a chat message. */
const MAX_FIELDS = 200;

/**
 * multipart/form-data for the API scope (the media upload and the multipart message send). Files are not parsed
 * here: handlers iterate the parts and stream each file onward. Limits come from config; each over-limit error is
 * turned into 413 where the parts are read (see `translate`).
 */
export async function registerMultipart(api: FastifyInstance, config: Config): Promise<void> {
  await api.register(multipart, {
    limits: {
      fileSize: config.media.maxFileBytes,
      files: config.media.maxFiles,
      fields: MAX_FIELDS,
      fieldSize: config.bodyLimitBytes,
      fieldNameSize: 100,
      parts: config.media.maxFiles + MAX_FIELDS,
      headerPairs: 100,
    },
    throwFileSizeLimit: true,
  });
}

const requireMultipart = (req: FastifyRequest): void => {
  if (!req.isMultipart()) throw new AppError('UNSUPPORTED_MEDIA_TYPE', `send multipart/form-data with files under "${MEDIA_FIELD}"`);
};

/** @fastify/multipart's and busboy's errors, in the catalogue's words. */
function translate(err: unknown, config: { maxFiles: number }): unknown {
  if (err instanceof AppError) return err;
  const e = err as { code?: string; message?: string };
  switch (e.code) {
    case 'FST_FILES_LIMIT':
      return new AppError('PAYLOAD_TOO_LARGE', `at most ${config.maxFiles} files per request`);
    case 'FST_PARTS_LIMIT':
    case 'FST_FIELDS_LIMIT':
      return new AppError('PAYLOAD_TOO_LARGE', 'too many form fields');
    case 'FST_REQ_FILE_TOO_LARGE':
      return new AppError('PAYLOAD_TOO_LARGE', 'a file is larger than the limit');
    case 'FST_PROTO_VIOLATION':
    case 'FST_INVALID_JSON_FIELD_ERROR':
      return new AppError('VALIDATION_FAILED', e.message ?? 'invalid form field');
    case 'FST_MP_PREMATURE_CLOSE':
      return new AppError('VALIDATION_FAILED', 'malformed multipart body: the request ended before the body was complete');
  }
  const broken = e.code === undefined && typeof e.message === 'string' ? brokenBody(e.message) : undefined;
  return broken ? new AppError('VALIDATION_FAILED', `malformed multipart body: ${broken}`) : err;
}

/**
 * busboy's (and its dicer's) words for a body it cannot parse, as plain Errors without a code: a body cut before its
 * closing boundary, or a Content-Type boundary it cannot use. Matched exactly, so no other error passes as the client's.
 */
function brokenBody(message: string): string | undefined {
  if (/^(Part terminated early due to unexpected end|Unexpected end) of multipart data$/.test(message))
    return 'the body ends before its closing boundary';
  if (message === 'Multipart: Boundary not found' || message === 'Boundary required') return 'the Content-Type names no boundary';
  if (message.startsWith('The needle cannot')) return 'the boundary must be 1 to 70 characters';
  return undefined;
}

type FieldValues = Map<string, unknown[]>;

/** The files under `media`, in order; other fields are collected into `fields` as they pass. */
async function* mediaFiles(
  parts: AsyncIterable<Multipart>,
  fields: FieldValues,
  limits: { maxFiles: number },
): AsyncGenerator<IncomingFile> {
  try {
    for await (const part of parts) {
      if (part.type === 'file') {
        if (part.fieldname !== MEDIA_FIELD) {
          part.file.resume();
          throw invalid(`files go under the field "${MEDIA_FIELD}" (got "${part.fieldname}")`, `/${part.fieldname}`);
        }
        yield { filename: part.filename, mimetype: part.mimetype, file: part.file };
      } else {
        if (part.valueTruncated || part.fieldnameTruncated)
          throw new AppError('PAYLOAD_TOO_LARGE', `the field "${part.fieldname}" is too large`);
        const list = fields.get(part.fieldname) ?? [];
        list.push(part.value);
        fields.set(part.fieldname, list);
      }
    }
  } catch (err) {
    throw translate(err, limits);
  }
}

/**
 * After a refusal, the rest of the body is read and dropped (a stream buffer at a time). Left unread, it would keep
 * the connection busy forever: Node does not discard a body the handler had started to read, so the client could
 * not finish its request nor the server close. Clients that stop sending on an early answer lose nothing.
 */
function discardRest(req: FastifyRequest): void {
  if (req.raw.complete) return;
  req.raw.unpipe();
  req.raw.resume();
}

async function uploadAll(
  req: FastifyRequest,
  media: MediaService,
  roomId: string,
  values: FieldValues,
  maxFiles: number,
): Promise<PendingMedia[]> {
  requireMultipart(req);
  try {
    return await media.upload(req.auth, roomId, mediaFiles(req.parts(), values, { maxFiles }));
  } catch (err) {
    discardRest(req);
    // A file stream fails with busboy's error too while the service reads it, outside mediaFiles.
    throw translate(err, { maxFiles });
  }
}

/** POST …/media: uploads only; form fields other than the files are ignored. */
export function uploadFromRequest(req: FastifyRequest, media: MediaService, roomId: string, maxFiles: number): Promise<PendingMedia[]> {
  return uploadAll(req, media, roomId, new Map(), maxFiles);
}

export interface MultipartMessageFields {
  content: string;
  replyToId?: string;
  mentions?: string[];
  clientMessageId?: string;
}

/**
 * A multipart message send, all or nothing: the files under `media` are uploaded (checked, processed, stored as
 * pending), the fields `content`, `replyToId`, `clientMessageId` and `mentions` (a JSON array or repeated fields) are
 * read, and `send` is called with them and the new media ids, to claim them in its transaction. Whatever `send`
 * did not claim (it threw, or answered with an earlier message for a repeated clientMessageId) is deleted at once.
 * The fields are only shaped here; `send` validates them as it validates a JSON body.
 */
export async function withMultipartMessage<T>(
  req: FastifyRequest,
  media: MediaService,
  roomId: string,
  maxFiles: number,
  send: (fields: MultipartMessageFields, mediaIds: string[]) => Promise<T>,
): Promise<T> {
  const values: FieldValues = new Map();
  const uploaded = await uploadAll(req, media, roomId, values, maxFiles);
  const ids = uploaded.map((m) => m.id);
  try {
    return await send(messageFields(values), ids);
  } finally {
    // Claimed uploads are no longer pending, so this removes exactly the unused ones.
    if (ids.length) await media.discard(req.auth, ids);
  }
}

function messageFields(values: FieldValues): MultipartMessageFields {
  const single = (name: string): string | undefined => {
    const list = values.get(name);
    if (!list) return undefined;
    if (list.length > 1) throw invalid(`${name} must be given once`, `/${name}`);
    const v = list[0];
    if (typeof v !== 'string') throw invalid(`${name} must be text`, `/${name}`);
    return v;
  };
  const fields: MultipartMessageFields = { content: single('content') ?? '' };
  // A form sends every field, filled or not: an empty optional field means "not given".
  const replyToId = single('replyToId');
  if (replyToId) fields.replyToId = replyToId;
  const clientMessageId = single('clientMessageId');
  if (clientMessageId) fields.clientMessageId = clientMessageId;
  const mentions = values.get('mentions');
  if (mentions) fields.mentions = parseMentions(mentions);
  return fields;
}

function parseMentions(list: unknown[]): string[] {
  let items: unknown[] = list;
  const first = list[0];
  if (list.length === 1 && Array.isArray(first)) items = first;
  else if (list.length === 1 && typeof first === 'string' && first.trim().startsWith('[')) {
    try {
      items = JSON.parse(first) as unknown[];
    } catch {
      throw invalid('mentions must be a JSON array of user ids, or repeated fields', '/mentions');
    }
    if (!Array.isArray(items)) throw invalid('mentions must be a JSON array of user ids, or repeated fields', '/mentions');
  }
  if (!items.every((m) => typeof m === 'string')) throw invalid('mentions must be user ids', '/mentions');
  return (items as string[]).filter((m) => m !== '');
}
