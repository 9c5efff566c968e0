import cliProgress from 'cli-progress';
import type { JobCounts } from '../../shared/types.js';

export interface ProgressReporter {
  update(counts: JobCounts, status: string): void;
  stop(): void;
}

/** A live bar on a terminal; a line every few seconds otherwise (CI logs, pipes). */
export function createProgressReporter(options: {
  quiet: boolean;
  stream?: NodeJS.WriteStream;
  intervalMs?: number;
}): ProgressReporter {
  const stream = options.stream ?? process.stderr;
  if (options.quiet) return { update: () => undefined, stop: () => undefined };
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        stream,
        format:
          '{bar} {percentage}% | {value}/{total} items | succeeded {succeeded} | failed {failed} | cancelled {cancelled} | {status} | {duration_formatted}',
        hideCursor: true,
      },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    return {
      update: (counts, status) => {
        const payload = { succeeded: counts.succeeded, failed: counts.failed, cancelled: counts.cancelled, status };
        const finished = counts.succeeded + counts.failed + counts.cancelled;
        if (!started) {
          bar.start(counts.total, finished, payload);
          started = true;
        } else {
          bar.setTotal(counts.total);
          bar.update(finished, payload);
        }
      },
      stop: () => bar.stop(),
    };
  }
  const intervalMs = options.intervalMs ?? 5_000;
  let last = 0;
  let lastLine = '';
  return {
    update: (counts, status) => {
      const finished = counts.succeeded + counts.failed + counts.cancelled;
      const percent = counts.total ? Math.floor((finished / counts.total) * 100) : 100;
      const line = `progress: ${finished}/${counts.total} (${percent}%) succeeded=${counts.succeeded} failed=${counts.failed} cancelled=${counts.cancelled} status=${status}`;
      const now = Date.now();
      if (line !== lastLine && now - last >= intervalMs) {
        stream.write(`${line}\n`);
        last = now;
        lastLine = line;
      }
    },
    stop: () => undefined,
  };
}
