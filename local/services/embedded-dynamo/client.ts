/**
 * The local runtime's job table, embedded: an object that stands wherever the store code takes a
 * DynamoDBDocumentClient (its `send` of the lib-dynamodb commands the store uses), running each
 * command in process on an SQLite file with DynamoDB's semantics. No SDK middleware, marshalling,
 * HTTP shape or thread hop per call, and the data on disk, so memory stays flat in the job's size.
 * The deployed code path (the SDK against DynamoDB) is still tested against dynalite: the store's
 * tests run against both (test/support/dynamo.ts).
 */
import {
  BatchGetCommand,
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jobTableDefinition } from '../../../shared/store/table-schema.js';
import { TableOperations } from './operations.js';
import { SqliteTable, tableShape } from './sqlite-table.js';

/** The file of the store in a data dir (beside dynalite's `dynamodb/` folder of older data dirs). */
export const EMBEDDED_STORE_FILE = 'store.sqlite';

type Handler = (operations: TableOperations, input: never) => unknown;

/** The commands the store sends, by class: each one is one operation. */
const HANDLERS = new Map<unknown, Handler>([
  [GetCommand, (operations, input) => operations.get(input)],
  [PutCommand, (operations, input) => operations.put(input)],
  [UpdateCommand, (operations, input) => operations.update(input)],
  [DeleteCommand, (operations, input) => operations.delete(input)],
  [QueryCommand, (operations, input) => operations.query(input)],
  [BatchGetCommand, (operations, input) => operations.batchGet(input)],
]);
/** The same by class name, for commands from another copy of lib-dynamodb. */
const HANDLERS_BY_NAME = new Map(
  [...HANDLERS].map(([command, handler]) => [(command as { name: string }).name, handler]),
);

type CallHandler = (args: { input: unknown }) => Promise<{ output: unknown }>;
type Middleware = (next: CallHandler, context: { commandName: string; clientName: string }) => CallHandler;

/**
 * A document client on one embedded table. Each command runs when it is sent (so it is atomic);
 * its answer is delivered as its own event on the next turn of the event loop, as an answer from a
 * socket arrives: a caller that loops on the store still lets timers and I/O run, and concurrent
 * callers each run on between two answers (the interleaving the SDK path has).
 */
export class EmbeddedDocumentClient {
  private closed = false;
  private readonly middlewares: Middleware[] = [];
  /**
   * The SDK's hook for instrumenting calls (the bench counts reads and writes with it), reduced to
   * `add`: each middleware wraps every call, the first added outermost, with the SDK's context
   * fields `commandName` and `clientName`. Steps and priorities are not modelled.
   */
  readonly middlewareStack = {
    add: (middleware: Middleware) => {
      this.middlewares.push(middleware);
    },
  };

  constructor(private readonly operations: TableOperations) {}

  send(command: { input: unknown }): Promise<never> {
    if (this.middlewares.length === 0) return this.run(command.constructor, command.input);
    const context = { commandName: command.constructor.name, clientName: 'DynamoDBDocumentClient' };
    let handler: CallHandler = (args) => this.run(command.constructor, args.input).then((output) => ({ output }));
    for (const middleware of [...this.middlewares].reverse()) handler = middleware(handler, context);
    return handler({ input: command.input }).then(({ output }) => output as never);
  }

  private run(commandClass: unknown, input: unknown): Promise<never> {
    return new Promise((resolve, reject) => {
      let value: unknown;
      let failed = false;
      try {
        if (this.closed) throw new Error('the embedded DynamoDB store has been closed');
        const name = (commandClass as { name: string }).name;
        const handler = HANDLERS.get(commandClass) ?? HANDLERS_BY_NAME.get(name);
        if (!handler) throw new Error(`the embedded DynamoDB store does not run ${name}`);
        value = { $metadata: {}, ...(handler(this.operations, input as never) as object) };
      } catch (error) {
        value = error;
        failed = true;
      }
      setImmediate(() => (failed ? reject(value as Error) : resolve(value as never)));
    });
  }

  /** As the SDK client's: the store stays open (closed with EmbeddedDynamo.close). */
  destroy(): void {
    // nothing per client
  }

  markClosed(): void {
    this.closed = true;
  }

  /** This client where the store code takes the SDK's document client (it uses `send` only). */
  asDocumentClient(): DynamoDBDocumentClient {
    return this as unknown as DynamoDBDocumentClient;
  }
}

export interface EmbeddedDynamo {
  /** The SQLite file holding the table. */
  readonly file: string;
  readonly client: DynamoDBDocumentClient;
  /** Closes the store; a temporary one (no data dir) is deleted. */
  close(): Promise<void>;
}

const TEMPORARY_PREFIX = 'llm-batch-store-';

/** Temporary stores of processes that are gone (a killed process cannot remove its own). */
function removeOrphanedStores(): void {
  for (const name of readdirSync(tmpdir())) {
    const pid = Number(/^llm-batch-store-(\d+)-/.exec(name)?.[1]);
    if (!Number.isInteger(pid) || pid === process.pid || isAlive(pid)) continue;
    rmSync(join(tmpdir(), name), { recursive: true, force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Opens the job table (created if missing): in `dataDir` (kept, resumable after a kill), or in a
 * temporary folder removed by close().
 */
export function openEmbeddedDynamo(options: { tableName: string; dataDir?: string }): EmbeddedDynamo {
  if (!options.dataDir) removeOrphanedStores();
  const folder = options.dataDir ?? mkdtempSync(join(tmpdir(), `${TEMPORARY_PREFIX}${process.pid}-`));
  mkdirSync(folder, { recursive: true });
  const file = join(folder, EMBEDDED_STORE_FILE);
  let table: SqliteTable;
  try {
    table = new SqliteTable(tableShape(jobTableDefinition(options.tableName)), file, options.dataDir !== undefined);
  } catch (error) {
    if (!options.dataDir) rmSync(folder, { recursive: true, force: true });
    throw error;
  }
  const client = new EmbeddedDocumentClient(new TableOperations(table));
  let closed = false;
  return {
    file,
    client: client.asDocumentClient(),
    close: () => {
      if (!closed) {
        closed = true;
        client.markClosed();
        table.close();
        if (!options.dataDir) rmSync(folder, { recursive: true, force: true });
      }
      return Promise.resolve();
    },
  };
}
