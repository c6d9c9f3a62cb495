export type MediaKind = 'image' | 'video' | 'audio' | 'document';

export interface MediaType {
  /** What the service stores and answers with. */
  mime: string;
  /** The extension of stored objects (our keys), also appended to a file name that lacks a fitting one. */
  ext: string;
  kind: MediaKind;
  /** Extensions a client's file name may already carry for this type. */
  exts: readonly string[];
  /**
   * Declared types that agree with these bytes. Browsers name one container differently (a WebM voice note is
   * video/webm or audio/webm, an .m4a is audio/mp4 or audio/x-m4a), so each family accepts its usual names.
   */
  declared: readonly string[];
}

const MP4_FAMILY = ['video/mp4', 'audio/mp4', 'audio/x-m4a', 'audio/m4a', 'video/x-m4v', 'application/mp4'];
const WEBM_FAMILY = ['video/webm', 'audio/webm'];
const HEIF_FAMILY = ['image/heic', 'image/heif'];

const TYPES: MediaType[] = [
  {
    mime: 'image/jpeg',
    ext: 'jpg',
    kind: 'image',
    exts: ['jpg', 'jpeg', 'jpe', 'jfif'],
    declared: ['image/jpeg', 'image/jpg', 'image/pjpeg'],
  },
  { mime: 'image/png', ext: 'png', kind: 'image', exts: ['png'], declared: ['image/png', 'image/x-png', 'image/apng'] },
  { mime: 'image/webp', ext: 'webp', kind: 'image', exts: ['webp'], declared: ['image/webp'] },
  { mime: 'image/gif', ext: 'gif', kind: 'image', exts: ['gif'], declared: ['image/gif'] },
  { mime: 'image/heic', ext: 'heic', kind: 'image', exts: ['heic', 'heif', 'hif'], declared: HEIF_FAMILY },
  { mime: 'image/heif', ext: 'heif', kind: 'image', exts: ['heif', 'heic', 'hif'], declared: HEIF_FAMILY },
  { mime: 'video/mp4', ext: 'mp4', kind: 'video', exts: ['mp4', 'm4v'], declared: MP4_FAMILY },
  { mime: 'video/quicktime', ext: 'mov', kind: 'video', exts: ['mov', 'qt'], declared: ['video/quicktime'] },
  { mime: 'video/webm', ext: 'webm', kind: 'video', exts: ['webm'], declared: WEBM_FAMILY },
  {
    mime: 'audio/mpeg',
    ext: 'mp3',
    kind: 'audio',
    exts: ['mp3'],
    declared: ['audio/mpeg', 'audio/mp3', 'audio/mpeg3', 'audio/x-mpeg', 'audio/x-mp3', 'audio/mpg'],
  },
  {
    mime: 'audio/aac',
    ext: 'aac',
    kind: 'audio',
    exts: ['aac', 'adts'],
    declared: ['audio/aac', 'audio/x-aac', 'audio/aacp', 'audio/x-hx-aac-adts'],
  },
  { mime: 'audio/mp4', ext: 'm4a', kind: 'audio', exts: ['m4a', 'mp4', 'aac'], declared: MP4_FAMILY },
  {
    mime: 'audio/ogg',
    ext: 'ogg',
    kind: 'audio',
    exts: ['ogg', 'oga', 'opus'],
    declared: ['audio/ogg', 'audio/opus', 'audio/vorbis', 'application/ogg'],
  },
  {
    mime: 'audio/wav',
    ext: 'wav',
    kind: 'audio',
    exts: ['wav', 'wave'],
    declared: ['audio/wav', 'audio/x-wav', 'audio/wave', 'audio/vnd.wave', 'audio/x-pn-wav'],
  },
  { mime: 'audio/webm', ext: 'weba', kind: 'audio', exts: ['webm', 'weba'], declared: WEBM_FAMILY },
  { mime: 'application/pdf', ext: 'pdf', kind: 'document', exts: ['pdf'], declared: ['application/pdf', 'application/x-pdf'] },
  {
    mime: 'text/plain',
    ext: 'txt',
    kind: 'document',
    // A text file is downloaded under its name: an extension that would make it run or render (.bat, .html, .svg)
    // gets .txt appended, so only these names are kept as they are.
    exts: ['txt', 'text', 'log', 'md', 'markdown', 'csv', 'tsv', 'json', 'xml', 'yaml', 'yml', 'ini', 'cfg', 'conf', 'srt', 'vtt'],
    declared: ['text/*', 'application/json', 'application/xml', 'application/x-ndjson', 'application/yaml'],
  },
  {
    mime: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
    ext: 'docx',
    kind: 'document',
    exts: ['docx'],
    declared: ['application/vnd.openxmlformats-officedocument.wordprocessingml.document'],
  },
  {
    mime: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
    ext: 'xlsx',
    kind: 'document',
    exts: ['xlsx'],
    declared: ['application/vnd.openxmlformats-officedocument.spreadsheetml.sheet'],
  },
  {
    mime: 'application/vnd.openxmlformats-officedocument.presentationml.presentation',
    ext: 'pptx',
    kind: 'document',
    exts: ['pptx'],
    declared: ['application/vnd.openxmlformats-officedocument.presentationml.presentation'],
  },
  {
    mime: 'application/msword',
    ext: 'doc',
    kind: 'document',
    exts: ['doc', 'dot'],
    declared: ['application/msword', 'application/vnd.ms-word', 'application/vnd.ms-office'],
  },
  {
    mime: 'application/vnd.ms-excel',
    ext: 'xls',
    kind: 'document',
    exts: ['xls', 'xlt'],
    declared: ['application/vnd.ms-excel', 'application/vnd.ms-office'],
  },
  {
    mime: 'application/vnd.ms-powerpoint',
    ext: 'ppt',
    kind: 'document',
    exts: ['ppt', 'pps', 'pot'],
    declared: ['application/vnd.ms-powerpoint', 'application/vnd.ms-office'],
  },
];

const BY_MIME = new Map(TYPES.map((t) => [t.mime, t]));
const BY_EXT = new Map<string, MediaType>();
for (const t of TYPES) if (!BY_EXT.has(t.ext)) BY_EXT.set(t.ext, t);

export const mediaType = (mime: string): MediaType | undefined => BY_MIME.get(mime);
/** The type of one of our stored objects, from its key's extension (thumbnails are WebP images). */
export const typeOfKey = (key: string): MediaType | undefined => BY_EXT.get(key.slice(key.lastIndexOf('.') + 1));

export const THUMBNAIL_TYPE: MediaType = BY_MIME.get('image/webp')!;

/** The media type without parameters, lower-cased: `Audio/Ogg; codecs=opus` → `audio/ogg`. */
export const bareMime = (mime: string | undefined): string => (mime ?? '').split(';')[0]!.trim().toLowerCase();

/** Declared types that say nothing about the bytes: the client did not know. */
const UNKNOWN = new Set(['', 'application/octet-stream', 'binary/octet-stream', 'application/unknown', 'application/binary']);

export function declaredAgrees(declared: string | undefined, type: MediaType): boolean {
  const d = bareMime(declared);
  if (UNKNOWN.has(d)) return true;
  return type.declared.some((a) => (a.endsWith('/*') ? d.startsWith(a.slice(0, -1)) : a === d));
}

/** How the file is offered: documents are downloaded, never rendered by the browser. */
export const dispositionOf = (type: MediaType): 'inline' | 'attachment' => (type.kind === 'document' ? 'attachment' : 'inline');

/** The Content-Type a stored object is served with. */
export const servedContentType = (type: MediaType): string => (type.mime === 'text/plain' ? 'text/plain; charset=utf-8' : type.mime);
