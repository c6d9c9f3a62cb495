import { createReadStream } from 'node:fs';
import { AppError } from '../errors.js';
import { classifyCfb } from './cfb.js';
import { bareMime, declaredAgrees, mediaType, type MediaType } from './media.types.js';

/** Loaded on the first upload, as sharp is (media.process.ts). */
let fileType: Promise<typeof import('file-type')> | undefined;

const unsupported = (detail: string) => new AppError('UNSUPPORTED_MEDIA_TYPE', detail);

/** file-type's names for types we store under another name. */
const ALIASES: Record<string, string> = {
  'audio/x-m4a': 'audio/mp4',
  'video/x-m4v': 'video/mp4',
};

/**
 * The type of the file at `path`, judged by its bytes alone; the declared type only has to agree with it. Anything
 * outside the allowlist is 415.
 */
export async function detectType(path: string, declared: string | undefined, label: string): Promise<MediaType> {
  const { fileTypeFromFile } = await (fileType ??= import('file-type'));
  const found = await fileTypeFromFile(path);
  let mime = found ? bareMime(found.mime) : '';
  mime = ALIASES[mime] ?? mime;
  if (mime === 'application/x-cfb') {
    const verdict = await classifyCfb(path).catch(() => ({ refused: 'the compound file is damaged' }));
    if ('refused' in verdict) throw unsupported(`${label}: ${verdict.refused}`);
    mime = verdict.mime;
  }
  // file-type cannot recognise text; and a signature it does know (an XML prolog, "MZ" at the start of a sentence)
  // on bytes that are clean text is still text. Executables and other binaries contain NULs, so they stay refused.
  const type = mediaType(mime) ?? ((await isPlainText(path)) ? mediaType('text/plain') : undefined);
  if (!type) throw unsupported(`${label}: ${mime ? `files of type ${mime} are` : 'this kind of file is'} not accepted`);
  if (!declaredAgrees(declared, type)) {
    // A part sent without a Content-Type reaches us as text/plain, the multipart default; say how to avoid that.
    const hint =
      bareMime(declared) === 'text/plain'
        ? ' (a file part without a Content-Type counts as text/plain: label it, or send application/octet-stream)'
        : '';
    throw unsupported(`${label}: declared as ${bareMime(declared)} but its content is ${type.mime}${hint}`);
  }
  return type;
}

// C0 controls other than tab, line feed, vertical tab, form feed, carriage return and escape (ANSI colours in logs);
// DEL; C1 controls.
const CONTROL = /[\u0000-\u0008\u000E-\u001A\u001C-\u001F\u007F-\u009F]/;

/** Valid UTF-8 (a BOM allowed) without NULs or other control characters. Reads the file in chunks. */
async function isPlainText(path: string): Promise<boolean> {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: 64 * 1024 })) {
      if (CONTROL.test(decoder.decode(chunk as Buffer, { stream: true }))) return false;
    }
    return !CONTROL.test(decoder.decode());
  } catch {
    return false;
  }
}
