/** The local stack could not listen on the port asked for with --port. */
export class PortInUseError extends Error {
  constructor(
    readonly port: number,
    cause: unknown,
  ) {
    super(`port ${port} is in use on 127.0.0.1; stop what holds it or choose another with --port`, { cause });
    this.name = 'PortInUseError';
  }
}

export function isAddressInUse(error: unknown): boolean {
  return (error as { code?: unknown } | undefined)?.code === 'EADDRINUSE';
}

/**
 * An ordinary failure as one line naming its cause (and the URL or path, which our errors and
 * Node's file errors carry in their message); the stack only with --debug.
 */
export function errorLine(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const plain = [
    'Error',
    'LlmBatchApiError',
    'LlmBatchUnreachableError',
    'PortInUseError',
    'UnknownLocalJobError',
  ].includes(error.name);
  const message = error.message.split('\n')[0] ?? '';
  return plain ? message : `${error.name}: ${message}`;
}
