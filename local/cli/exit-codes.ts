/** What `llm-batch` exits with. */
export const EXIT = {
  /** Every item succeeded. */
  ok: 0,
  /** The job failed, or the runtime broke. */
  failed: 1,
  /** Bad input or usage: nothing was created. */
  usage: 2,
  /** The job finished, some items failed or were cancelled. */
  itemFailures: 3,
} as const;

/** A problem with the command line or the input file: exit 2 with the message. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
