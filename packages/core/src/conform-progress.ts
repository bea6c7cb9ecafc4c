/** The stream a progress display writes to (a TTY gets a rewritten line). */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean | undefined;
}

/** Shows the progress of one conversion: a rewritten line on a terminal, a line per quarter otherwise. */
export function createConformProgress(stream: ProgressStream, label: string) {
  const tty = stream.isTTY === true;
  let last = -1;
  return {
    update(fraction: number) {
      const percent = Math.floor(fraction * 100);
      const width = 20;
      const filled = Math.round(fraction * width);
      const line = `  converting ${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(percent).padStart(3)}%`;
      if (tty) {
        if (percent !== last) stream.write(`\r\x1b[2K${line}`);
        last = percent;
        return;
      }
      const quarter = Math.floor(percent / 25);
      if (quarter !== last) stream.write(`${line}\n`);
      last = quarter;
    },
    /** Ends a terminal's rewritten line; safe to call more than once. */
    done() {
      if (tty && last >= 0) stream.write('\n');
      last = -1;
    },
  };
}
