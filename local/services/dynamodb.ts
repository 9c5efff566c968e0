import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ResourceInUseException,
  type DynamoDBClientConfig,
} from '@aws-sdk/client-dynamodb';
import { Worker } from 'node:worker_threads';
import { jobTableDefinition } from '../../shared/store/table-schema.js';
import {
  ANSWER_FIELDS,
  CALL_FIELDS,
  WORKER_ROLE,
  type DynamoWorkerData,
  type DynamoWorkerInbound,
  type DynamoWorkerMessage,
} from './dynamodb-worker.js';

const WORKER_YOUNG_GENERATION_MB = 16;

// s3rver accepts only its own key pair; dynalite and the Step Functions stand-in accept any.
export const LOCAL_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

type ClientConfig = Omit<DynamoDBClientConfig, 'endpoint' | 'requestHandler' | 'signer'>;
type RequestSigner = Exclude<NonNullable<DynamoDBClientConfig['signer']>, (...args: never[]) => unknown>;

/** The parts of the SDK's HttpRequest and HttpResponse (@smithy/types) the handler reads and writes. */
interface SdkHttpRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: unknown;
}
interface SdkHttpResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: Uint8Array;
}

export interface LocalDynamo {
  endpoint: string;
  /**
   * A DynamoDB client for this process whose requests go to dynalite's thread as messages: no
   * socket, no HTTP parsing, no SigV4 (dynalite checks only the shape of the Authorization
   * header). The endpoint serves everything else.
   */
  client(config?: ClientConfig): DynamoDBClient;
  close(): Promise<void>;
}

/**
 * DynamoDB on 127.0.0.1 (dynalite, in a worker thread): in memory, or on disk under `dataDir` so
 * jobs survive a restart. Creates the job table (the same keys and index as the deployed one) if
 * it is missing.
 */
export async function startLocalDynamo(options: {
  tableName: string;
  dataDir?: string;
  port?: number;
}): Promise<LocalDynamo> {
  const data: DynamoWorkerData = {
    role: WORKER_ROLE,
    port: options.port ?? 0,
    ...(options.dataDir ? { path: options.dataDir } : {}),
  };
  // The store lives in buffers outside the worker's heap, which holds little but each request's
  // short-lived garbage: a small young generation (V8 sizes it for a 4 GB heap) keeps the thread
  // ~90 MB smaller at no measurable cost.
  // Next to this module: the .ts source (tsx, jest) or the compiled .js (the installed package's dist/).
  const workerFile = import.meta.url.endsWith('.ts') ? './dynamodb-worker.ts' : './dynamodb-worker.js';
  const worker = new Worker(new URL(workerFile, import.meta.url), {
    workerData: data,
    resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB },
  });
  const thread = new DynamoThread(worker);
  const port = await thread.ready;
  const endpoint = `http://127.0.0.1:${port}`;
  const client = (config: ClientConfig = {}) => {
    const dynamoClient = new DynamoDBClient({
      region: 'us-east-1',
      credentials: LOCAL_CREDENTIALS,
      ...config,
      endpoint,
      requestHandler: thread,
      signer: NO_SIGNATURE,
    });
    // Per-call work nobody reads here: a user agent built per request, and log filtering for a no-op logger.
    dynamoClient.middlewareStack.remove('getUserAgentMiddleware');
    if (config.logger === undefined) dynamoClient.middlewareStack.remove('loggerMiddleware');
    return dynamoClient;
  };
  try {
    const setup = client();
    try {
      await createJobTable(setup, options.tableName);
    } finally {
      setup.destroy();
    }
  } catch (error) {
    await thread.close();
    throw error;
  }
  return { endpoint, client, close: () => thread.close() };
}

/**
 * Signs nothing: the requests never leave the process, and the worker adds the Authorization
 * header of the shape dynalite checks (it verifies no signature). SigV4's HMACs were about a
 * tenth of the local runtime's CPU.
 */
const NO_SIGNATURE: RequestSigner = { sign: (request) => Promise.resolve(request) };

/**
 * The SDK request handler of every local DynamoDB client: calls go to the worker in batches, one
 * message per turn of the event loop (a message per call cost ~0.1-0.3 ms of the main thread on
 * a busy 2-core machine, mostly in waking the worker), and the answers come back the same way.
 */
class DynamoThread {
  readonly ready: Promise<number>;
  private readonly ended: Promise<void>;
  private readonly pending = new Map<
    number,
    { resolve: (response: { response: SdkHttpResponse }) => void; reject: (error: Error) => void }
  >();
  private calls: (number | string)[] = [];
  private nextId = 0;
  private failure: Error | undefined;
  private closing: Promise<void> | undefined;

  constructor(private readonly worker: Worker) {
    let started: (port: number) => void = () => undefined;
    let exited: () => void = () => undefined;
    this.ready = new Promise<number>((resolve, reject) => {
      started = resolve;
      worker.once('error', reject);
      worker.once('exit', (code) =>
        reject(new Error(`the local DynamoDB thread exited with code ${code} before it started`)),
      );
    });
    this.ended = new Promise<void>((resolve) => (exited = resolve));
    worker.on('message', (message: DynamoWorkerMessage) => {
      if (message.type === 'answers') this.settle(message.answers, message.bodies);
      else if (message.type === 'ready') started(message.port);
      else exited();
    });
    worker.on('error', (error: Error) =>
      this.fail(new Error(`the local DynamoDB stopped: ${error.message}`, { cause: error })),
    );
    worker.on('exit', () => {
      exited();
      this.fail(new Error('the local DynamoDB has been closed'));
    });
  }

  handle(request: SdkHttpRequest): Promise<{ response: SdkHttpResponse }> {
    if (this.failure) return Promise.reject(this.failure);
    const target = request.headers['x-amz-target'];
    if (request.method !== 'POST' || (request.path || '/') !== '/' || target === undefined) {
      return Promise.reject(
        new Error(`the local DynamoDB takes DynamoDB JSON calls only, not ${request.method} ${request.path}`),
      );
    }
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      this.pending.set(id, { resolve, reject });
      if (this.calls.push(id, target, bodyText(request.body)) === CALL_FIELDS) setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    const calls = this.calls;
    this.calls = [];
    if (!this.failure) this.worker.postMessage({ type: 'calls', calls } satisfies DynamoWorkerInbound);
  }

  private settle(answers: (number | string)[], bodies: Uint8Array): void {
    let start = 0;
    for (let i = 0; i < answers.length; i += ANSWER_FIELDS) {
      const [id, statusCode, requestId, crc32, contentType, end] = answers.slice(i, i + ANSWER_FIELDS) as [
        number,
        number,
        string,
        string,
        string,
        number,
      ];
      const waiting = this.pending.get(id);
      this.pending.delete(id);
      const headers: Record<string, string> = {
        'content-type': contentType,
        'content-length': String(end - start),
        'x-amzn-requestid': requestId,
      };
      if (crc32) headers['x-amz-crc32'] = crc32;
      waiting?.resolve({ response: { statusCode, headers, body: bodies.subarray(start, end) } });
      start = end;
    }
  }

  updateHttpClientConfig(): void {
    // nothing to configure: there is no connection
  }

  httpHandlerConfigs(): Record<string, never> {
    return {};
  }

  /** Every client shares this handler: destroying one client leaves it open. */
  destroy(): void {
    // closed with the thread, by close()
  }

  /** Stops the HTTP endpoint and the store, then the thread. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (!this.failure) {
        this.worker.postMessage({ type: 'close' } satisfies DynamoWorkerInbound);
        await Promise.race([this.ended, new Promise((resolve) => setTimeout(resolve, 5000).unref())]);
      }
      this.fail(new Error('the local DynamoDB has been closed'));
      await this.worker.terminate();
    })();
    return this.closing;
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const waiting of this.pending.values()) waiting.reject(this.failure);
    this.pending.clear();
  }
}

function bodyText(body: unknown): string {
  if (body === undefined || body === null) return '';
  if (typeof body === 'string') return body;
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  throw new TypeError('the local DynamoDB handler takes string or byte request bodies only');
}

/** Creates the job table from its schema (kept if it exists) and waits until it is ACTIVE. */
export async function createJobTable(client: DynamoDBClient, tableName: string): Promise<void> {
  try {
    await client.send(new CreateTableCommand(jobTableDefinition(tableName)));
  } catch (error) {
    if (!(error instanceof ResourceInUseException)) throw error; // kept from an earlier run (--data-dir)
  }
  // dynalite flips a new table to ACTIVE on a timer, even with createTableMs: 0.
  for (let attempt = 0; ; attempt++) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    if (Table?.TableStatus === 'ACTIVE') return;
    if (attempt >= 400) throw new Error(`table ${tableName} did not become ACTIVE`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
