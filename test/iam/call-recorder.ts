import { AsyncLocalStorage } from 'node:async_hooks';
import type { MiddlewareStack } from '@smithy/types';
import type { RunAs } from '../../local/local-stack.js';

/** One AWS SDK call as the client saw it, with the principal (role) that made it. */
export interface RecordedCall {
  principal: string;
  /** The client's name, e.g. `DynamoDBClient`. */
  client: string;
  /** The command's name, e.g. `PutItemCommand` (the document client's PutCommand sends PutItemCommand). */
  command: string;
  input: Record<string, unknown>;
  /** The error's name when the call failed (S3 answers NoSuchKey only to a caller that may list the bucket). */
  errorName?: string;
}

/** Calls made outside any `runAs`: no deployed role makes them, so the check refuses them. */
export const UNATTRIBUTED = '(no principal)';
const TEST_ITSELF = Symbol('the test itself');

interface Instrumentable {
  // Any client's stack: the recorder reads only the command's input.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  middlewareStack: MiddlewareStack<any, any>;
}

/**
 * Records every call of the clients it instruments (an SDK middleware), attributed through
 * AsyncLocalStorage to the principal whose `runAs` the call was made in: the local runtime runs
 * every task, the state machine's own reads and writes and the execution-ended handler in one
 * process with shared clients, so the async context is what tells them apart.
 */
export class CallRecorder {
  private readonly context = new AsyncLocalStorage<string | typeof TEST_ITSELF>();
  private readonly instrumented = new Set<unknown>();
  readonly calls: RecordedCall[] = [];

  readonly runAs: RunAs = (principal, work) => this.context.run(principal, work);

  /** The test's own setup and reads: not recorded. */
  asTest<T>(work: () => Promise<T>): Promise<T> {
    return this.context.run(TEST_ITSELF, work);
  }

  /** The principal of the current async context. */
  get principal(): string {
    const current = this.context.getStore();
    return current === TEST_ITSELF ? 'the test' : (current ?? UNATTRIBUTED);
  }

  /** Records a call the local runtime does not make but AWS would (the API key's secret read). */
  simulate(call: Omit<RecordedCall, 'principal'>): void {
    if (this.context.getStore() !== TEST_ITSELF) this.calls.push({ principal: this.principal, ...call });
  }

  /** Adds the recording middleware to a client (once per middleware stack: a document client shares its client's). */
  instrument(client: Instrumentable): void {
    if (this.instrumented.has(client.middlewareStack)) return;
    this.instrumented.add(client.middlewareStack);
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (this.context.getStore() === TEST_ITSELF) return next(args);
        const call: RecordedCall = {
          principal: this.principal,
          client: String(context.clientName),
          command: String(context.commandName),
          input: args.input as Record<string, unknown>,
        };
        this.calls.push(call);
        try {
          return await next(args);
        } catch (error) {
          call.errorName = error instanceof Error ? error.name : String(error);
          throw error;
        }
      },
      { step: 'initialize', name: 'iamCallRecorder' },
    );
  }
}
