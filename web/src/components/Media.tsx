import { useEffect, useRef, useState } from 'react';
import type { Message } from 'chat-service/client';

type MediaItem = Message['media'][number];

/** Files of a message: image thumbnails (opening a viewer), players for video and audio, a link for documents. */
export function MediaList({ media }: { media: MediaItem[] }) {
  const images = media.filter((f) => f.kind === 'image');
  const [viewing, setViewing] = useState<number | null>(null);
  return (
    <div className="media">
      {media.map((f) =>
        f.kind === 'image' ? (
          <button
            key={f.id}
            type="button"
            className="thumb"
            aria-label={`View image ${f.fileName ?? ''}`.trim()}
            onClick={() => setViewing(images.indexOf(f))}
          >
            <img
              src={f.thumbnailUrl ?? f.url}
              alt={f.fileName ?? 'image'}
              width={f.width ?? undefined}
              height={f.height ?? undefined}
              loading="lazy"
            />
          </button>
        ) : (
          <FileView key={f.id} file={f} />
        ),
      )}
      {viewing !== null && <Viewer images={images} start={viewing} onClose={() => setViewing(null)} />}
    </div>
  );
}

function FileView({ file: f }: { file: MediaItem }) {
  switch (f.kind) {
    case 'video':
      return (
        <video
          controls
          preload="metadata"
          src={f.url}
          poster={f.thumbnailUrl ?? undefined}
          className="video"
          aria-label={f.fileName ?? 'video'}
        />
      );
    case 'audio':
      return <audio controls preload="metadata" src={f.url} aria-label={f.fileName ?? 'audio'} />;
    default:
      return (
        <a href={f.url} target="_blank" rel="noreferrer" className="document" download={f.fileName ?? undefined}>
          📄 {f.fileName ?? 'document'} <span className="muted small">({size(f.size)})</span>
        </a>
      );
  }
}

/** A modal viewer: the full image, its name, arrows (and ← →) between the message's images, Esc closes. */
function Viewer({ images, start, onClose }: { images: MediaItem[]; start: number; onClose(): void }) {
  const [at, setAt] = useState(start);
  const dialog = useRef<HTMLDialogElement>(null);
  const image = images[at];
  useEffect(() => {
    const d = dialog.current;
    if (d && !d.open) d.showModal();
  }, []);
  if (!image) return null;
  const step = (by: number) => setAt((i) => (i + by + images.length) % images.length);
  return (
    <dialog
      ref={dialog}
      className="viewer"
      aria-label={image.fileName ?? 'image'}
      onClose={onClose}
      onKeyDown={(e) => {
        if (e.key === 'ArrowRight') step(1);
        if (e.key === 'ArrowLeft') step(-1);
      }}
    >
      <img src={image.url} alt={image.fileName ?? 'image'} />
      <div className="viewer-bar">
        <span className="muted small">
          {image.fileName} {image.width && image.height ? `· ${image.width}×${image.height}` : ''} · {size(image.size)}
          {images.length > 1 ? ` · ${at + 1}/${images.length}` : ''}
        </span>
        {images.length > 1 && (
          <>
            <button type="button" className="secondary" onClick={() => step(-1)} aria-label="Previous image">
              ‹
            </button>
            <button type="button" className="secondary" onClick={() => step(1)} aria-label="Next image">
              ›
            </button>
          </>
        )}
        <a className="button secondary" href={image.url} target="_blank" rel="noreferrer" download={image.fileName ?? undefined}>
          Download
        </a>
        <button type="button" onClick={() => dialog.current?.close()} autoFocus>
          Close
        </button>
      </div>
    </dialog>
  );
}

export function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}
