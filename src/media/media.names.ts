import type { MediaType } from './media.types.js';

const MAX_CODE_POINTS = 200;
const MAX_EXT_CODE_POINTS = 16;

// C0, DEL and C1 controls; bidi overrides and isolates, which can make "gpj.exe" read as "exe.jpg"; lone surrogates.
const UNSAFE = /[\u0000-\u001F\u007F-\u009F\u200E\u200F\u202A-\u202E\u2066-\u2069]|\p{Cs}/gu;

/**
 * A file name as it may be stored and shown: the last path part only (either separator), without control or bidi
 * characters, not starting or ending with dots or spaces, at most 200 code points (the extension kept), never empty.
 * When `type` is given, a name whose extension does not fit the detected type gets the type's extension appended,
 * so a downloaded "notes.bat" holding text opens as "notes.bat.txt" rather than running.
 */
export function sanitiseFileName(raw: string | undefined, type?: MediaType): string {
  let name = (raw ?? '').normalize('NFC').replace(UNSAFE, '');
  name = name.split(/[/\\]/).pop() ?? '';
  name = name.replace(/^[\s.]+|[\s.]+$/g, '');
  if (type) {
    const dot = name.lastIndexOf('.');
    const ext = dot > 0 ? name.slice(dot + 1).toLowerCase() : '';
    if (!type.exts.includes(ext)) name = `${name || 'file'}.${type.ext}`;
  }
  if (name === '') return 'file';
  const points = [...name];
  if (points.length <= MAX_CODE_POINTS) return name;
  const dot = name.lastIndexOf('.');
  const ext = dot > 0 ? [...name.slice(dot)] : [];
  const keep = ext.length > 1 && ext.length <= MAX_EXT_CODE_POINTS + 1 ? ext : [];
  return (
    points
      .slice(0, MAX_CODE_POINTS - keep.length)
      .join('')
      .replace(/[\s.]+$/, '') + keep.join('')
  );
}

/**
 * A Content-Disposition value safe in an HTTP header: an ASCII fallback name plus the exact UTF-8 name (RFC 6266 /
 * RFC 5987), so a browser downloads the file under the name it was sent with.
 */
export function contentDisposition(disposition: 'inline' | 'attachment', fileName: string): string {
  const fallback = fileName.replace(/[^\x20-\x7E]/g, '_').replace(/["\\%]/g, '_');
  const encoded = encodeURIComponent(fileName).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `${disposition}; filename="${fallback}"; filename*=UTF-8''${encoded}`;
}
