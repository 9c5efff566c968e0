import { EXIT } from './exit-codes.js';

const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

export interface Interrupts {
  /**
   * The job exists now: a signal cancels it (at once, when one came before). `resumeHint`, for a
   * job kept on disk, says how to go on after a second signal.
   */
  jobStarted(jobId: string, cancel: () => Promise<void>, resumeHint?: string): void;
  /** Stops listening: the default signal handling is back. */
  dispose(): void;
}

/**
 * Ctrl-C and SIGTERM while a job runs: the first cancels the job gracefully (the run then ends
 * as usual, results written, exit 3); the second quits at once and leaves the job as it is.
 */
export function handleInterrupts(stream: NodeJS.WritableStream = process.stderr): Interrupts {
  let signals = 0;
  let job: { id: string; cancel: () => Promise<void>; resumeHint?: string | undefined } | undefined;
  const requestCancel = () => {
    if (!job) return;
    const { id } = job;
    job
      .cancel()
      .catch((error: unknown) =>
        stream.write(
          `llm-batch: could not cancel job ${id}: ${error instanceof Error ? error.message : String(error)}\n`,
        ),
      );
  };
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals === 1) {
      stream.write(`\n${signal}: cancelling ${job ? `job ${job.id}` : 'the job'} (send it again to quit at once)...\n`);
      requestCancel();
      return;
    }
    stream.write(
      `\n${signal} again: quitting at once; ${job ? `job ${job.id}` : 'the job'} is left as it is, no results written` +
        `${job?.resumeHint ? `; ${job.resumeHint}` : ''}\n`,
    );
    process.exit(EXIT.failed);
  };
  for (const signal of SIGNALS) process.on(signal, onSignal);
  return {
    jobStarted(jobId, cancel, resumeHint) {
      job = { id: jobId, cancel, resumeHint };
      if (signals > 0) requestCancel();
    },
    dispose() {
      for (const signal of SIGNALS) process.off(signal, onSignal);
    },
  };
}
