/**
 * One line per step. On a terminal the line redraws in place (`\r`) as the step advances; elsewhere (CI, a pipe, a
 * log file) only the finished line is written, so logs stay readable.
 */
export class Progress {
  private label = '';
  private total = 0;
  private done = 0;
  private drawnAt = 0;
  private startedAt = 0;

  constructor(private readonly out: { write(text: string): unknown; isTTY?: boolean } | null) {}

  start(label: string, total: number): void {
    this.label = label;
    this.total = total;
    this.done = 0;
    this.drawnAt = 0;
    this.startedAt = Date.now();
    this.draw();
  }

  tick(n = 1): void {
    this.done += n;
    // A redraw per request would cost more than the request on a slow terminal: ten a second is enough to see.
    if (Date.now() - this.drawnAt >= 100) this.draw();
  }

  finish(note = ''): void {
    if (!this.out) return;
    const took = ((Date.now() - this.startedAt) / 1000).toFixed(1);
    const line = `${this.label}: ${this.done}${note ? ` ${note}` : ''} in ${took} s`;
    this.out.write(this.out.isTTY ? `\r\x1b[2K${line}\n` : `${line}\n`);
  }

  /** A line of its own, between steps. */
  say(text: string): void {
    this.out?.write(`${text}\n`);
  }

  private draw(): void {
    if (!this.out?.isTTY) return;
    this.drawnAt = Date.now();
    const width = 30;
    const share = this.total ? Math.min(1, this.done / this.total) : 1;
    const filled = Math.round(share * width);
    this.out.write(`\r\x1b[2K${this.label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${this.done}/${this.total}`);
  }
}
