/**
 * A one-line progress indicator on stderr, drawn only on a terminal (so pipes and tests get
 * clean output). Key derivation takes about a second; people should see that it is working.
 */
export class ProgressLine {
  private last = -1;
  private readonly enabled: boolean;

  constructor(private readonly stream: NodeJS.WriteStream = process.stderr) {
    this.enabled = stream.isTTY === true;
  }

  update(label: string, fraction: number): void {
    if (!this.enabled) return;
    const percent = Math.max(0, Math.min(100, Math.round(fraction * 100)));
    if (percent === this.last) return;
    this.last = percent;
    const width = 24;
    const filled = Math.round((percent / 100) * width);
    this.stream.write(`\r${label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(percent).padStart(3)}%`);
  }

  done(): void {
    if (!this.enabled || this.last < 0) return;
    this.stream.write('\r\x1b[K');
    this.last = -1;
  }
}
