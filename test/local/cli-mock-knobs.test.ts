import { parseArgs } from 'node:util';
import { describe, expect, test } from '@jest/globals';
import { runtimeOptions } from '../../local/cli/main.js';
import { UsageError } from '../../local/cli/exit-codes.js';

/** The mock knobs of `run` and `serve` as the CLI parses them (issue 11's names). */
function parse(args: string[]) {
  const options = {
    'mock-batch-queue-tokens': { type: 'string' },
    'mock-batch-expire-rate': { type: 'string' },
    'mock-batch-duration-ms': { type: 'string' },
    'mock-transient-error-rate': { type: 'string' },
  } as const;
  const { values } = parseArgs({ args, options, strict: true });
  return runtimeOptions(values as Parameters<typeof runtimeOptions>[0], {});
}

describe('mock provider knobs on the command line', () => {
  test('--mock-batch-queue-tokens, --mock-batch-expire-rate and --mock-batch-duration-ms reach the mock', () => {
    const options = parse([
      '--mock-batch-queue-tokens',
      '90000',
      '--mock-batch-expire-rate',
      '0.3',
      '--mock-batch-duration-ms',
      '120000',
      '--mock-transient-error-rate',
      '0.1',
    ]);
    expect(options.mock).toEqual({
      batchQueueTokens: 90_000,
      batchExpireRate: 0.3,
      batchDurationMs: 120_000,
      transientErrorRate: 0.1,
    });
  });

  test.each([
    [['--mock-batch-queue-tokens=-1'], '--mock-batch-queue-tokens must be a non-negative integer, got "-1"'],
    [['--mock-batch-queue-tokens', '1.5'], '--mock-batch-queue-tokens must be a non-negative integer, got "1.5"'],
    [['--mock-batch-expire-rate', '1.2'], '--mock-batch-expire-rate must be a rate from 0 to 1, got "1.2"'],
    [['--mock-batch-duration-ms', 'soon'], '--mock-batch-duration-ms must be a number of milliseconds, got "soon"'],
  ])('%j is a usage error', (args, message) => {
    expect(() => parse(args)).toThrow(new UsageError(message));
  });
});
