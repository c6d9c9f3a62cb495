/**
 * A fetch for uploads that reports progress: browsers give upload progress only to XMLHttpRequest. Answers a real
 * Response so the caller treats it exactly as fetch's; a network failure rejects with a TypeError, as fetch does.
 */
// The few members used, typed here so the SDK type-checks without the DOM library (it also builds for Node).
interface Xhr {
  open(method: string, url: string): void;
  setRequestHeader(name: string, value: string): void;
  responseType: string;
  upload: { onprogress: ((e: { lengthComputable: boolean; loaded: number; total: number }) => void) | null };
  onload: (() => void) | null;
  onerror: (() => void) | null;
  ontimeout: (() => void) | null;
  onabort: (() => void) | null;
  status: number;
  statusText: string;
  responseText: string;
  getAllResponseHeaders(): string;
  abort(): void;
  send(body: unknown): void;
}
type XhrConstructor = new () => Xhr;
const XhrClass = () => (globalThis as { XMLHttpRequest?: XhrConstructor }).XMLHttpRequest;

/** Whether uploads can report progress here (browsers). */
export const canReportProgress = () => typeof XhrClass() === 'function';

export function fetchWithProgress(url: string, init: RequestInit, onProgress: (fraction: number) => void): Promise<Response> {
  return new Promise((resolve, reject) => {
    const Ctor = XhrClass();
    if (!Ctor) return reject(new TypeError('XMLHttpRequest is not available'));
    const xhr = new Ctor();
    xhr.open(init.method ?? 'GET', url);
    for (const [name, value] of Object.entries((init.headers ?? {}) as Record<string, string>)) xhr.setRequestHeader(name, value);
    xhr.responseType = 'text';
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable && e.total > 0) onProgress(e.loaded / e.total);
    };
    xhr.onload = () => {
      const headers = new Headers();
      for (const line of xhr
        .getAllResponseHeaders()
        .trim()
        .split(/[\r\n]+/)) {
        const at = line.indexOf(':');
        if (at > 0) headers.append(line.slice(0, at).trim(), line.slice(at + 1).trim());
      }
      const body = xhr.status === 204 || xhr.status === 205 ? null : xhr.responseText;
      resolve(new Response(body, { status: xhr.status, statusText: xhr.statusText, headers }));
    };
    xhr.onerror = () => reject(new TypeError('network error'));
    xhr.ontimeout = () => reject(new TypeError('network timeout'));
    xhr.onabort = () => reject(new DOMException('aborted', 'AbortError'));
    const signal = init.signal;
    if (signal) {
      if (signal.aborted) return xhr.abort();
      signal.addEventListener('abort', () => xhr.abort(), { once: true });
    }
    xhr.send(init.body ?? null);
  });
}
