/** A failure to show next to the control that caused it, read out at once by screen readers (nothing when empty). */
export function ErrorText({ error }: { error: string | null | undefined }) {
  return error ? (
    <p role="alert" className="error">
      {error}
    </p>
  ) : null;
}

/** What just happened (saved, blocked…), read out politely; always rendered so that a change is announced. */
export function Notice({ notice }: { notice: string | null | undefined }) {
  return (
    <p role="status" className="small muted">
      {notice}
    </p>
  );
}
